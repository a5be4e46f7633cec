/**
 * CVaR of profit computed directly from the scenario profits (no optimisation): the mean of the
 * worst (1 − α) share of equally likely scenarios, the boundary scenario counted with the fraction
 * that fills the share. The LP's Rockafellar–Uryasev value must equal this at its solution.
 */
export function profitCvar(profitsEur: readonly number[], confidence: number): number {
  if (profitsEur.length === 0) throw new RangeError('profitCvar: no scenarios');
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`profitCvar: confidence must be in (0, 1), got ${confidence}`);
  const sorted = [...profitsEur].sort((a, b) => a - b);
  const tail = (1 - confidence) * sorted.length;
  let weight = 0;
  let sum = 0;
  for (const profit of sorted) {
    const take = Math.min(1, tail - weight);
    if (take <= 0) break;
    sum += take * profit;
    weight += take;
  }
  return sum / tail;
}
