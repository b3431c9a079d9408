import { writeGeneratedFiles } from './generated-files';
import { renderGatewayDocs } from './gateway-docs/gateway-docs-tables';

/**
 * `npm run docs:gateways`: writes `docs/gateways/*.md` (fact and decline tables) from the code.
 * `--check`: writes nothing, exits 1 when a committed page differs from what the code renders.
 */
renderGatewayDocs()
  .then((pages) => writeGeneratedFiles(pages, 'npm run docs:gateways'))
  .catch((err: unknown) => {
    process.stderr.write(`docs:gateways: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
