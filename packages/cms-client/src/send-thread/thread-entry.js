// The send thread's first module, plain JavaScript: a worker thread does not inherit the process's TypeScript loader
// (tsx, from `node --import tsx` or a test runner), so it registers tsx itself and then loads the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./thread-main.ts');
