/**
 * The console's stylesheet and script, served as files (the Content-Security-Policy allows no inline
 * script or style). Mobile first: one column on a phone, tables scroll inside their own box so the page
 * itself never scrolls sideways; wider screens get a KPI grid and more room.
 */
export const CONSOLE_CSS = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;background:#f4f6f8}
a{color:#0b5cad}
.top{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;padding:.6rem .8rem;background:#14213d;color:#fff}
.top a.brand{color:#fff;font-weight:600;text-decoration:none;margin-right:auto}
.lookup{display:flex;gap:.3rem;flex:1 1 16rem;min-width:0}
.lookup input{flex:1;min-width:0}
.logout button{background:transparent;color:#fff;border:1px solid #fff6}
main{padding:.8rem;max-width:1400px;margin:0 auto}
section{background:#fff;border-radius:6px;padding:.8rem;margin-bottom:.8rem;box-shadow:0 1px 2px #0001;min-width:0}
h1{font-size:1.25rem;margin:0 0 .6rem}
h2{font-size:1.05rem;margin:0 0 .5rem}
small{color:#5a6572;font-weight:normal}
input,button{font:inherit;padding:.4rem .6rem;border:1px solid #b8c2cc;border-radius:4px;max-width:100%}
button{background:#0b5cad;color:#fff;border-color:#0b5cad;cursor:pointer}
button.danger{background:#b42318;border-color:#b42318}
form.archive{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.3rem 0}
label{display:block;margin:.5rem 0 .2rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.narrow{max-width:26rem;margin:2rem auto}
.narrow input{width:100%}
.narrow button{margin-top:.8rem;width:100%}
.kpis{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.5rem}
.kpi{border:1px solid #e3e8ee;border-radius:6px;padding:.5rem;min-width:0}
.kpi .label{display:block;font-size:.8rem;color:#5a6572}
.kpi .value{display:block;font-size:1.3rem;font-weight:600;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .45rem;border-bottom:1px solid #e3e8ee;vertical-align:top}
td{overflow-wrap:anywhere;min-width:4rem}
th{font-size:.8rem;color:#5a6572;white-space:nowrap}
.num{text-align:right;white-space:nowrap}
.state,.triage,.breaker{display:inline-block;padding:0 .35rem;border-radius:3px;font-size:.8rem;background:#e3e8ee}
.s-SUCCEEDED,.b-closed{background:#d1fadf}.s-FAILED,.b-open{background:#fee4e2}.s-UNKNOWN,.s-UNRESOLVED,.b-half-open{background:#fef0c7}
.t-hard{background:#fee4e2}.t-config{background:#e0eaff}.t-outage{background:#fef0c7}.t-unknown{background:#e3e8ee}
.error{color:#b42318}
.empty{color:#5a6572}
.pager{display:flex;justify-content:space-between;gap:.5rem;margin-top:.6rem}.pager a[rel=next]{margin-left:auto}
.actions{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:.6rem}
.fields{display:grid;grid-template-columns:minmax(6rem,max-content) minmax(0,1fr);gap:.2rem .8rem}
.fields dt{color:#5a6572}.fields dd{margin:0;overflow-wrap:anywhere}
pre.body{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f6f8;padding:.5rem;border-radius:4px;max-height:24rem;overflow:auto}
.history ol{padding-left:1.2rem}.history li{overflow-wrap:anywhere}
.kv{color:#5a6572;font-size:.85rem}
.state-note{display:inline-block;padding:0 .35rem;border-radius:3px;font-size:.8rem;background:#fef0c7;margin-left:.3rem}
.marks li{overflow-wrap:anywhere}.marks .src{color:#5a6572;font-size:.85rem}
@media (min-width:700px){.kpis{grid-template-columns:repeat(auto-fit,minmax(9rem,1fr))}main{padding:1rem}}
`;

/**
 * Refreshes the KPIs every 5 s from `<base>/api/summary` (textContent only: nothing is parsed as HTML); once
 * the session has ended (401: idle, logged out elsewhere), goes to the login page, so a dashboard left open
 * no longer shows payment data. Select-all for dead letters.
 */
export const CONSOLE_JS = `
(function () {
  var base = document.querySelector('a.brand');
  if (!base) return;
  var root = base.getAttribute('href');
  var all = document.querySelector('[data-select-all]');
  if (all) all.addEventListener('change', function () {
    document.querySelectorAll('#dead-letters input[name=id]').forEach(function (box) { box.checked = all.checked; });
  });
  if (!document.querySelector('[data-kpi]')) return;
  function refresh() {
    fetch(root + '/api/summary', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign(root + '/login'); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        Object.keys(data).forEach(function (name) {
          var el = document.querySelector('[data-kpi="' + name + '"]');
          if (el) el.textContent = String(data[name]);
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 5000);
})();
`;
