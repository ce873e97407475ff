// Which calendar URLs a pending attestation may send `trail upgrade` to. A proof note is
// data: its URI must not be able to point trail's requests at an arbitrary host. Allowed are
// the calendars trail is configured with and the public ones every OpenTimestamps client
// trusts by default (the package's DEFAULT_CALENDAR_WHITELIST, same patterns).
const PUBLIC = [
  'https://*.calendar.opentimestamps.org', // run by Peter Todd
  'https://*.calendar.eternitywall.com', // run by Riccardo Casatta of Eternity Wall
  'https://*.calendar.catallaxy.com', // run by Vincent Cloutier of Catallaxy
];

/** `*` stands for any run of characters without a '/' (as in the package's minimatch use);
 * everything else must match exactly. A bare host allows it over http and https. */
function pattern(url: string): RegExp {
  const withScheme = /^https?:\/\//.test(url) ? [url] : [`http://${url}`, `https://${url}`];
  const alts = withScheme.map((u) =>
    u
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*'),
  );
  return new RegExp(`^(?:${alts.join('|')})$`);
}

export function calendarWhitelist(configured: string[]): (uri: string) => boolean {
  const patterns = [...configured, ...PUBLIC].map(pattern);
  return (uri) => patterns.some((p) => p.test(uri));
}
