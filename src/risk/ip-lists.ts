import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { BlockList, isIP } from 'node:net';

/** A named set of addresses and CIDR ranges. */
export interface IpRanges {
  readonly name: string;
  has(ip: string): boolean;
}

/** A problem in a list: the file (or configuration entry), the line and why. */
export interface ListProblem {
  readonly source: string;
  readonly line: number;
  readonly message: string;
}

/**
 * Parses addresses and CIDRs, one a line (`#` starts a comment; blank lines skipped): `192.0.2.7`, `198.51.100.0/24`,
 * `2001:db8::/32`. Returns the set and the lines it could not read (skipped, never fatal).
 *
 * @example
 * const { ranges } = parseIpRanges('tor-exits', '198.51.100.0/24\n203.0.113.9 # one host');
 * ranges.has('198.51.100.20'); // true
 */
export function parseIpRanges(name: string, text: string, source = name): { ranges: IpRanges; problems: ListProblem[] } {
  const list = new BlockList();
  const problems: ListProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const entry = raw.replace(/#.*/, '').trim();
    if (entry.length === 0) return;
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    const prefix = slash === -1 ? null : Number(entry.slice(slash + 1));
    const max = family === 4 ? 32 : 128;
    if (family === 0 || (prefix !== null && (!Number.isInteger(prefix) || prefix < 0 || prefix > max || !/^\d+$/.test(entry.slice(slash + 1))))) {
      problems.push({ source, line: i + 1, message: `not an IP address or CIDR: ${JSON.stringify(entry.slice(0, 80))}` });
      return;
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === null) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  });
  return {
    problems,
    ranges: {
      name,
      has: (ip) => {
        const family = isIP(ip);
        return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
      },
    },
  };
}

/** Deny lists loaded from files, reloadable while the server runs. */
export interface DenyLists {
  /** The name (file) of the first list holding `ip`, or null. */
  match(ip: string): string | null;
  /** Re-reads every file; a file that cannot be read keeps its previous contents. Returns the problems found. */
  reload(): ListProblem[];
  /** Stops watching the files. */
  close(): void;
}

/**
 * Loads deny lists (IP reputation) from files and re-reads a file when it changes (polled every `pollMs`, so an
 * operator's `cp new-list deny.txt` takes effect without a restart; `reload()` forces it). A missing file at start
 * is an error the caller reports; lines that do not parse are skipped and reported.
 */
export function loadDenyLists(paths: readonly string[], options: { readonly pollMs?: number; readonly onProblem?: (p: ListProblem) => void } = {}): DenyLists {
  const lists = new Map<string, IpRanges>();
  const loadOne = (path: string): ListProblem[] => {
    const { ranges, problems } = parseIpRanges(path, readFileSync(path, 'utf8'), path);
    lists.set(path, ranges);
    return problems;
  };
  const initial = paths.flatMap(loadOne);
  for (const p of initial) options.onProblem?.(p);
  const pollMs = options.pollMs ?? 5_000;
  const watched: string[] = [];
  if (pollMs > 0) {
    for (const path of paths) {
      watchFile(path, { interval: pollMs, persistent: false }, () => {
        try {
          for (const p of loadOne(path)) options.onProblem?.(p);
        } catch (error) {
          options.onProblem?.({ source: path, line: 0, message: `could not be re-read (kept the previous list): ${error instanceof Error ? error.message : String(error)}` });
        }
      });
      watched.push(path);
    }
  }
  return {
    match: (ip) => {
      for (const ranges of lists.values()) if (ranges.has(ip)) return ranges.name;
      return null;
    },
    reload: () => {
      const problems: ListProblem[] = [];
      for (const path of paths) {
        try {
          problems.push(...loadOne(path));
        } catch (error) {
          problems.push({ source: path, line: 0, message: `could not be re-read (kept the previous list): ${error instanceof Error ? error.message : String(error)}` });
        }
      }
      return problems;
    },
    close: () => {
      for (const path of watched) unwatchFile(path);
    },
  };
}
