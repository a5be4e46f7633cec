/** No control: battery idle, shiftable demand served when requested, the grid takes everything. */
import { grid } from '../../data/assets.ts';
import { serveAllKw, type Controller } from '../controller.ts';

export function noControl(): Controller {
  return {
    async decide(context) {
      const shiftableKw = serveAllKw(context);
      const netLoadForecastKw = context.hour.forecast.netLoadKw[0]!;
      return {
        command: {
          netLoadForecastKw,
          scheduledGridKw: netLoadForecastKw + shiftableKw,
          batteryKw: 0,
          decisionRule: 0,
          shiftableKw,
          // No peak is planned, so the import row is the connection limit (formulation.md §4).
          plannedPeakKw: grid.maxImportKw,
          plannedEnergyNextKwh: context.energyKwh,
        },
      };
    },
  };
}
