/**
 * Files currently open for reading by this process (by device + inode), so that the writer can
 * refuse to replace a file it would be reading from (a hard link or a symlink counts too).
 */
const open = new Map<string, number>();

export function fileKey(st: { dev: number | bigint; ino: number | bigint }): string {
  return `${st.dev}:${st.ino}`;
}

export function markOpen(key: string): void {
  open.set(key, (open.get(key) ?? 0) + 1);
}

export function markClosed(key: string): void {
  const n = (open.get(key) ?? 0) - 1;
  if (n > 0) open.set(key, n);
  else open.delete(key);
}

export function isOpenForReading(key: string): boolean {
  return open.has(key);
}
