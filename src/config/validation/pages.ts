import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DEFAULT_LOGO, ERROR_FIELDS, SIGN_IN_FIELDS } from '../pagefields.js';
import { TemplateError, compileTemplate, type Template } from '../template.js';
import type { OptionReader } from '../reader.js';
import type { PagesConfig } from '../types.js';

export type { PagesConfig };

/** The logo is inlined into every sign-in page: keep it a logo. */
const MAX_LOGO_BYTES = 256 * 1024;
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
};
const TEMPLATES = [['sign_in.html', SIGN_IN_FIELDS], ['error.html', ERROR_FIELDS]] as const;

/**
 * What the proxy's own pages show (banner, footer, custom_sign_in_logo) and the templates that
 * replace them (custom_templates_dir). Files are read and templates compiled here, so a missing
 * file or a template the proxy cannot render stops start-up with its name and line.
 */
export function validatePages(r: OptionReader): PagesConfig {
  const banner = r.str('banner');
  const footer = r.str('footer');
  const { logo, imageOrigins } = readLogo(r);
  const templates: { signInTemplate?: Template; errorTemplate?: Template } = {};
  const dir = r.str('custom_templates_dir');
  if (dir !== '') {
    let names: string[] = [];
    try {
      if (!statSync(dir).isDirectory()) r.fail('custom_templates_dir', `a directory (${dir} is not one)`);
      else names = readdirSync(dir);
    } catch (e) {
      r.fail('custom_templates_dir', `an existing directory (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    for (const [file, fields] of TEMPLATES) {
      if (!names.includes(file)) continue;
      const path = join(dir, file);
      try {
        const t = compileTemplate(r.readFile(path), file, fields, path);
        if (file === 'sign_in.html') templates.signInTemplate = t;
        else templates.errorTemplate = t;
      } catch (e) {
        r.fail('custom_templates_dir', e instanceof TemplateError
          ? `templates Portcullis can render: ${e.message}`
          : `readable templates (${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
    }
    if (names.length && !names.includes('sign_in.html') && !names.includes('error.html')) {
      r.warnings.push(`OAUTH2_PROXY_CUSTOM_TEMPLATES_DIR (${dir}) has neither sign_in.html nor error.html: the built-in pages are used`);
    }
  }
  return { banner, footer, logo, imageOrigins, ...templates, ...(r.bool('force_json_errors') ? { jsonErrors: true } : {}) };
}

/** oauth2-proxy's custom_sign_in_logo: a file (inlined as a data: URL), an https:// URL, '-' for none. */
function readLogo(r: OptionReader): { logo: string; imageOrigins: string[] } {
  const v = r.str('custom_sign_in_logo');
  if (v === '') return { logo: DEFAULT_LOGO, imageOrigins: [] };
  if (v === '-') return { logo: '', imageOrigins: [] };
  if (/^https:\/\//i.test(v)) {
    let u: URL | undefined;
    try { u = new URL(v); } catch { /* reported below */ }
    if (!u) {
      r.fail('custom_sign_in_logo', 'an https:// URL, an image file or -');
      return { logo: '', imageOrigins: [] };
    }
    return { logo: `<img src="${escapeAttr(u.href)}" alt="Logo">`, imageOrigins: [u.origin] };
  }
  const type = IMAGE_TYPES[extname(v).toLowerCase()];
  if (!type) {
    r.fail('custom_sign_in_logo', `an image file ending in ${Object.keys(IMAGE_TYPES).join(', ')}, an https:// URL, or -`);
    return { logo: '', imageOrigins: [] };
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(v);
  } catch (e) {
    r.fail('custom_sign_in_logo', `a readable image file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return { logo: '', imageOrigins: [] };
  }
  if (bytes.length > MAX_LOGO_BYTES) {
    r.fail('custom_sign_in_logo', `an image of at most ${MAX_LOGO_BYTES / 1024} KiB (it is inlined into the sign-in page); this one has ${Math.ceil(bytes.length / 1024)} KiB`);
    return { logo: '', imageOrigins: [] };
  }
  // An SVG goes in as an <img> too, never inline: script inside an image is never run.
  return { logo: `<img src="data:${type};base64,${bytes.toString('base64')}" alt="Logo">`, imageOrigins: [] };
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
