// The page template subset (src/pages/template.ts): what renders, what is escaped, and what is
// refused at compile time with the line it is on. oauth2-proxy's own templates must compile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_FIELDS, SIGN_IN_FIELDS } from '../src/pages/pages.js';
import { TrustedHtml, compileTemplate, type TemplateData } from '../src/config/template.js';
import { REPO } from './support/proxy.js';
import { table } from './support/table.js';

const FIELDS = ['A', 'B', 'N', 'Html', 'Empty'];
const DATA: TemplateData = { A: 'a<b>&"\'', B: 'bee', N: 400, Html: new TrustedHtml('<b>bold</b>'), Empty: '' };
const render = (src: string): string => compileTemplate(src, 'page.html', FIELDS).render(DATA);
const refusal = (src: string): string => {
  try {
    compileTemplate(src, 'page.html', FIELDS, '/t/page.html');
  } catch (e) {
    return (e as Error).message;
  }
  return 'compiled';
};

test('fields, conditions and functions render like Go templates; strings are escaped, operator HTML is not', () => {
  table<string, string>([
    ['{{.B}}', 'bee'],
    ['{{ .A }}', 'a&lt;b&gt;&amp;&quot;&#39;'],
    ['{{.Html}}', '<b>bold</b>'],
    ['{{.N}}', '400'],
    ['{{if .B}}yes{{end}}', 'yes'],
    ['{{if .Empty}}yes{{else}}no{{end}}', 'no'],
    ['{{ if eq .N 400 401 }}bad{{ end }}', 'bad'],
    ['{{ if eq .N 401 }}x{{ else if eq .N 400 }}y{{ else }}z{{ end }}', 'y'],
    ['{{if ne .B "bee"}}x{{else}}same{{end}}', 'same'],
    ['{{if not .Empty}}empty{{end}}', 'empty'],
    ['{{if and .B .Empty}}x{{else}}not both{{end}}', 'not both'],
    ['{{if or .Empty .B}}one{{end}}', 'one'],
    ['{{ if eq .Html "<b>bold</b>" }}html compares as text{{ end }}', 'html compares as text'],
    ['{{ToUpper .B}} {{ToLower "QUIET"}}', 'BEE quiet'],
    ['{{if eq (ToUpper .B) "BEE"}}nested{{end}}', 'nested'],
    ['a  {{- .B -}}  c', 'abeec'],
    ['x{{/* a comment */}}y', 'xy'],
    ['{{define "page.html"}}inside {{.B}}{{end}}outside', 'inside bee'],
    ['{{define "other.html"}}not this{{end}}top {{.B}}', 'top bee'],
    ['{{if .B}}{{if .Empty}}a{{else}}b{{end}}{{end}}', 'b'],
  ], render);
});

test('anything outside the subset is refused when compiled, with file and line', () => {
  const cases: Array<[string, RegExp]> = [
    ['{{range .A}}x{{end}}', /^\/t\/page\.html:1: \{\{range\}\} is not supported/],
    ['line\n{{with .A}}x{{end}}', /^\/t\/page\.html:2: \{\{with\}\} is not supported/],
    ['{{template "x"}}', /\{\{template\}\} is not supported/],
    ['{{.Nope}}', /unknown field \.Nope; this page has \.A, \.B/],
    ['{{.A | html}}', /pipes and variables are not supported/],
    ['{{$x := .A}}', /pipes and variables are not supported/],
    ['{{printf "%s" .A}}', /"printf" is not supported \(functions: eq, ne, not, and, or, ToUpper, ToLower\)/],
    ['{{if .A}}no end', /\{\{if\}\} without \{\{end\}\}/],
    ['{{end}}', /without an \{\{if\}\} or \{\{define\}\}/],
    ['{{ .A ', /"\{\{" without a closing "\}\}"/],
    ['{{not .A .B}}', /not takes 1 argument/],
    ['{{if .A}}{{else}}{{else}}{{end}}', /\{\{else\}\} must be followed by \{\{end\}\}/],
  ];
  assert.deepEqual(cases.filter(([src, re]) => !re.test(refusal(src))).map(([src]) => `${src} → ${refusal(src)}`), []);
});

test('oauth2-proxy\'s own sign_in.html and error.html compile and render with the fields Portcullis gives', () => {
  const dir = join(REPO, 'test/fixtures/oauth2-proxy-templates');
  const signIn = compileTemplate(readFileSync(join(dir, 'sign_in.html'), 'utf8'), 'sign_in.html', SIGN_IN_FIELDS);
  const html = signIn.render({
    ProviderName: 'Hydra', SignInMessage: new TrustedHtml('Authenticate using <b>example.com</b>'), StatusCode: 200, CustomLogin: false,
    Redirect: '/app?x=1', Version: '0.1.0', ProxyPrefix: '/oauth2', Footer: new TrustedHtml(''), LogoData: new TrustedHtml('<img src="data:," alt="Logo">'), StartUrl: '/oauth2/start?rd=%2Fapp',
  });
  assert.match(html, /^\s*<!DOCTYPE html>/);
  assert.match(html, /<form method="GET" action="\/oauth2\/start">\s*<input type="hidden" name="rd" value="\/app\?x=1">/);
  assert.match(html, /Sign in with Hydra/);
  assert.match(html, /Authenticate using <b>example\.com<\/b>/);
  assert.match(html, /Secured with <a href="https:\/\/github\.com\/oauth2-proxy\/oauth2-proxy#oauth2_proxy" class="has-text-grey">OAuth2 Proxy<\/a> version 0\.1\.0/);
  assert.doesNotMatch(html, /Username cannot be empty|Invalid Username/);
  assert.doesNotMatch(html, /\{\{|\}\}/);

  const error = compileTemplate(readFileSync(join(dir, 'error.html'), 'utf8'), 'error.html', ERROR_FIELDS);
  const page = error.render({ Title: 'Access denied', Message: 'Not <you>', ProxyPrefix: '/oauth2', StatusCode: 403, Redirect: '/', RequestID: '', Footer: new TrustedHtml('-'), Version: '0.1.0' });
  assert.match(page, /<div class="status-code">403<\/div>/);
  assert.match(page, /Not &lt;you&gt;/);
  assert.match(page, /<form method="GET" action="\/oauth2\/sign_in">/);
  assert.doesNotMatch(page, /Secured with/, 'footer "-" removes it');
});
