/**
 * Linux's O_PATH (not in Node's fs.constants): a descriptor that names an inode without opening
 * it, so a FIFO is not waited on and a device's open is never called. `fstat` works on it, and
 * `/proc/self/fd/<fd>` names that inode for the calls that follow (a reopen for reading, chown,
 * chmod, utimes), whatever its path has become.
 */
export const O_PATH = 0o10000000;
