/** trail's version, as package.json says (a test keeps them equal). Here as a constant so
 * that the client of the watcher's socket need not read package.json to say which it is. */
export const TRAIL_VERSION = '0.1.0';
