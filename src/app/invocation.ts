// How to write a virtbalance command in a hint the user may copy. Run through npm (`npm start`,
// `npm run`, `npx`: npm sets npm_command), it runs from a checkout whose bins are not on the PATH,
// where `npx virtbalance` works and plain `virtbalance` does not; installed, plain `virtbalance`.

export function virtbalanceCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_command ? 'npx virtbalance' : 'virtbalance';
}
