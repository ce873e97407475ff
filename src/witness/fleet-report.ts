// placeholder until the fleet report lands (next commit)
import type { StateDir } from './state.js';
export interface FleetData {
  hosts: unknown[];
  verdicts: { red: number; amber: number; green: number };
}
export async function gatherFleet(_sd: StateDir, _o: { since?: string }): Promise<FleetData> {
  throw new Error('not yet');
}
export function renderFleetHtml(_d: FleetData): string {
  return '';
}
export function renderFleetMarkdown(_d: FleetData): string {
  return '';
}
