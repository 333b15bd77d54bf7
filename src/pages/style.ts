/**
 * The one look of every page a person sees: the proxy's (sign-in, signed out, errors), the demo's
 * echo page and the dev issuer's. Plain CSS, no script and no web font: the pages' CSP allows no
 * script, and the echo page allows only this style by its hash, so it must stay a constant.
 *
 * Light and dark follow the system (prefers-color-scheme). Sizes are relative and every box may
 * shrink to 360 px: a long value (a token, a header) wraps inside its cell instead of widening it.
 */
export const BASE_CSS = `:root{color-scheme:light dark;--bg:#f3f4f7;--card:#fff;--fg:#1d2330;--muted:#596170;--line:#dfe3ea;--accent:#2450b8;--accent-fg:#fff;--soft:#e6e9f0;--soft-fg:#1d2330;--note:#fff4d6;--note-line:#b7791f;--code:#eef1f5;--shadow:0 1px 3px #0000001f,0 6px 24px #0000000f}
@media (prefers-color-scheme:dark){:root{--bg:#101318;--card:#1b1f27;--fg:#e7eaf0;--muted:#a4acba;--line:#313847;--accent:#8fb0ff;--accent-fg:#0c1222;--soft:#2b3140;--soft-fg:#e7eaf0;--note:#3a3016;--note-line:#e0b050;--code:#252b36;--shadow:0 1px 3px #00000080}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem}
h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
p{margin:.6rem 0}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em;overflow-wrap:anywhere}
.page{min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;padding:1.5rem 1rem}
.card{overflow-wrap:anywhere;min-width:0;background:var(--card);border-radius:12px;box-shadow:var(--shadow);padding:2rem clamp(1.25rem,5vw,2.5rem);width:100%;max-width:32rem;text-align:center}
.card.wide{max-width:64rem;text-align:left}
.logo img,.logo svg{max-width:12rem;max-height:5rem;height:auto}
.lead{color:var(--muted)}
.note{background:var(--note);border-left:4px solid var(--note-line);padding:.6rem .8rem;text-align:left;border-radius:0 6px 6px 0}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;justify-content:center;margin:1.25rem 0 .5rem}
.button{display:inline-block;flex:1 1 12rem;max-width:100%;background:var(--accent);color:var(--accent-fg);border:0;border-radius:8px;padding:.7rem 1.2rem;font:inherit;font-weight:600;text-align:center;text-decoration:none;cursor:pointer}
.button.secondary{background:var(--soft);color:var(--soft-fg)}
#home-realm{margin-top:1.2rem;text-align:left}#home-realm label{display:block;color:var(--muted);margin-bottom:.3rem}
#home-realm input[type=email]{flex:3 1 12rem;min-width:0;font:inherit;padding:.6rem .7rem;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}
.button.quiet{background:transparent;color:var(--accent);text-decoration:underline;flex-basis:auto}
.support{margin-top:1.25rem;padding-top:.75rem;border-top:1px solid var(--line);color:var(--muted);font-size:.85rem}
.support dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem .75rem;margin:0;text-align:left}
.support dt{font-weight:600}.support dd{margin:0}
footer{color:var(--muted);font-size:.8rem;margin:1rem;text-align:center}
small{color:var(--muted)}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}`;
