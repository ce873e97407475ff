import { hostName } from '../util/accounts.js';

/** A name usable as one component of a ref on GitHub (and in trail's published formats):
 * only `[A-Za-z0-9._-]`, no leading dot or dash, no `..`, no `.lock` end. */
export function refComponent(s: string): string {
  const c = s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/\.+$/, '')
    .replace(/\.lock$/, '-lock')
    .replace(/\.\.+/g, '.');
  return c || 'x';
}

/** HOST of the published formats (`trail/HOST/NAME/…`, a checkpoint's `host`, the
 * allowed_signers principal): `review.host` when set, else the hostname, as one ref
 * component. The review remote, the checkpoints and the key's allowed_signers line all use
 * this one function, so that a witness finds the same name everywhere. */
export function hostComponent(configured?: string): string {
  return refComponent(configured || hostName());
}
