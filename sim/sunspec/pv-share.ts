/**
 * Several simulated PV inverters on one plant (an east and a west roof): each inverter sees the
 * share of the plant's PV its rating gives it, and its own active-power limit. The plant has one
 * PV limit, so it gets the rating-weighted limit of all inverters (no limit counts as 1); when
 * every inverter is limited to the same fraction — what the gateway sends — that is exact.
 */
import type { PlantView } from '../plant/plant-view.ts';

export function sharePv(plant: PlantView, ratedPowerKw: readonly number[]): PlantView[] {
  const totalKw = ratedPowerKw.reduce((s, kw) => s + kw, 0);
  const limits: (number | null)[] = ratedPowerKw.map(() => null);
  return ratedPowerKw.map((kw, i) => {
    const share = kw / totalKw;
    const own: Partial<PlantView> = {
      pvAcPowerKw: () => share * plant.pvAcPowerKw(),
      pvRatedPowerKw: () => kw,
      pvEnergyKwh: () => share * plant.pvEnergyKwh(),
      setPvLimitFraction(fraction) {
        limits[i] = fraction;
        plant.setPvLimitFraction(limits.every((l) => l === null) ? null : limits.reduce<number>((s, l, j) => s + (l ?? 1) * ratedPowerKw[j]!, 0) / totalKw);
      },
    };
    // Everything else (grid voltage, frequency, …) is the plant's own.
    return new Proxy(plant, {
      get: (target, name, receiver) => (Object.hasOwn(own, name) ? own[name as keyof PlantView] : bindIfMethod(Reflect.get(target, name, receiver), target)),
    });
  });
}

function bindIfMethod(value: unknown, target: object): unknown {
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
}
