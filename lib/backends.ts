/** Which kernel backends this build has, and whether this machine can run them. */
import { type NativeBackend, native } from './native.js';

export type BackendName = NativeBackend['name'];
export type BackendInfo = Readonly<NativeBackend>;

/** scalar / avx2 / avx512 / neon / cuda, each with `available` and, when unavailable, the `reason`. */
export function backends(): BackendInfo[] {
  return native.backends();
}
