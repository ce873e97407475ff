// What `init` and `snapshot` say of files recorded as secrets though no rule names them.
import type { AsSecret } from '../record/read/as-secret.js';
import { display } from '../util/bytes.js';

export { asSecretLine } from '../record/read/as-secret.js';

export function asSecretsJson(list: AsSecret[]): { path: string; of: string; how: string }[] {
  return list.map((a) => ({ path: display(a.path), of: display(a.of), how: a.how }));
}
