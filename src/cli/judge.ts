export async function judgeCommand(_argv: string[]): Promise<number> {
  return 2;
}
