export interface ExtraParams { sessions: number; soak: number; download: number }
export async function runExtras(_p: ExtraParams, _o: unknown): Promise<number> { return 1; }
