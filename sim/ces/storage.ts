/**
 * The CES operator's simulated battery (docs/ces.md §5): a storage-only site — a plant without
 * load or PV — with a large pack (default the CES's 100 kWh / 50 kW, η split evenly each way), served
 * as the simulator's SunSpec storage (models 124 and 802, the setpoint reverting to 0 kW when not
 * refreshed) on a Modbus TCP server, so the CES reads and commands it through the same driver as a
 * household's battery (drivers/sunspec/battery.ts).
 */
import type { CesSettings } from '../../src/ces/settings.ts';
import type { Clock } from '../../src/time/clock.ts';
import { startModbusTcpServer } from '../modbus/tcp-server.ts';
import { Plant } from '../plant/plant.ts';
import type { Profile } from '../plant/profile.ts';
import { simBattery } from '../sunspec/battery.ts';
import { HOUR_MS } from '../../src/data/households.ts';


export interface CesStorageSim {
  /** Modbus TCP port on 127.0.0.1; the battery is unit `unitId`. */
  readonly port: number;
  readonly unitId: number;
  readonly plant: Plant;
  close(): Promise<void>;
}

/** No load, no PV: the site is the battery alone. */
const storageOnly: Profile = { at: () => ({ loadKw: 0, pvKw: 0 }), nextChangeMs: (tMs) => (Math.floor(tMs / HOUR_MS) + 1) * HOUR_MS };

export async function startCesStorageSim(options: {
  clock: Clock;
  settings: Pick<CesSettings, 'capacityKwh' | 'minEnergyKwh' | 'powerKw' | 'roundTripEfficiency'>;
  /** Energy at start (kWh), default the lowest the CES keeps it at. */
  initialEnergyKwh?: number;
  port?: number;
}): Promise<CesStorageSim> {
  const { settings } = options;
  const eta = Math.sqrt(settings.roundTripEfficiency);
  const plant = new Plant({
    clock: options.clock,
    profile: storageOnly,
    battery: {
      capacityKwh: settings.capacityKwh,
      maxChargeKw: settings.powerKw,
      maxDischargeKw: settings.powerKw,
      chargeEfficiency: eta,
      dischargeEfficiency: eta,
      minSocFraction: settings.minEnergyKwh / settings.capacityKwh,
      maxSocFraction: 1,
      // The CES's schedule runs its pack from E^min to full at its rated power: a BMS that tapered
      // over the last 10 % would not deliver it. A large pack's BMS tapers over a narrow band.
      taperSocBand: 0.01,
      cellsInSeries: 96,
    },
    initialSocFraction: (options.initialEnergyKwh ?? settings.minEnergyKwh) / settings.capacityKwh,
  });
  const unitId = 1;
  const space = simBattery(plant, options.clock, { ratedPowerKw: settings.powerKw, common: { model: 'CES-100', serial: 'CES0001' } });
  const server = await startModbusTcpServer({ port: options.port ?? 0, units: new Map([[unitId, space]]) });
  return {
    port: server.port,
    unitId,
    plant,
    async close() {
      await server.close();
      space.close();
    },
  };
}
