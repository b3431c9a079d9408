import { Config } from '../config/config';

/** A remote endpoint the bridge depends on, as the doctor probes it. */
export interface DoctorTarget {
  /** Label in the report: `gateway <name>`, `bus`, `oauth`. */
  label: string;
  url: URL;
  host: string;
  port: number;
  secure: boolean;
  /** The gateway's name when the target is a gateway. */
  gateway?: string;
}

function target(label: string, raw: string, gateway?: string): DoctorTarget {
  const url = new URL(raw);
  const secure = url.protocol === 'https:';
  // URL keeps IPv6 literals in brackets; sockets and DNS want them bare.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { label, url, host, port: url.port ? Number(url.port) : secure ? 443 : 80, secure, gateway };
}

/** Every configured gateway (sorted by name), then the bus, then the OAuth server. Pure. */
export function doctorTargets(config: Config): DoctorTarget[] {
  const gateways = Object.values(config.gateways)
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((g) => target(`gateway ${g.name}`, g.baseUrl, g.name));
  return [...gateways, target('bus', config.serviceBus.url), target('oauth', config.momClient.oauthServerUrl)];
}
