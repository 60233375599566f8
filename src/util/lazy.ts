// Heavy dependencies, loaded on first use: `rollpoint --version`, `backups list` or `validate`
// should not pay for execa (about 100 ms), pg or ajv at start-up.
export const loadExeca = () => import("execa").then((m) => m.execa);
export const loadPg = () => import("pg").then((m) => m.default);
