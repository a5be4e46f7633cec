/** A PlantView with settable numbers, so SunSpec tests control exactly what the devices see. */
import type { PlantView } from '../../../sim/plant/plant-view.ts';

export class TestPlant implements PlantView {
  pvKw = 4.2;
  pvRatedKw = 10;
  pvEnergy = 12345.6;
  pvLimit: number | null = null;
  netImportKw = -1.5;
  importedKwh = 2000;
  exportedKwh = 3000;
  voltageV = 230.1;
  frequencyHz = 50.02;
  batteryKw = 0;
  batteryEnergy = 6;
  batteryCapacity = 10;
  maxChargeKw = 4;
  maxDischargeKw = 5;
  packVoltageV = 400;
  cellVoltagesV = [3.3, 3.31, 3.29];
  temperaturesC = [25, 27];
  batterySetpoint = 0;
  relays = new Map<number, boolean>();

  pvAcPowerKw(): number {
    return this.pvLimit === null ? this.pvKw : Math.min(this.pvKw, this.pvLimit * this.pvRatedKw);
  }
  pvRatedPowerKw(): number {
    return this.pvRatedKw;
  }
  pvEnergyKwh(): number {
    return this.pvEnergy;
  }
  setPvLimitFraction(fraction: number | null): void {
    this.pvLimit = fraction;
  }
  meterNetImportKw(): number {
    return this.netImportKw;
  }
  meterImportedEnergyKwh(): number {
    return this.importedKwh;
  }
  meterExportedEnergyKwh(): number {
    return this.exportedKwh;
  }
  gridVoltageV(): number {
    return this.voltageV;
  }
  gridFrequencyHz(): number {
    return this.frequencyHz;
  }
  batteryPowerKw(): number {
    return this.batteryKw;
  }
  batteryEnergyKwh(): number {
    return this.batteryEnergy;
  }
  batteryCapacityKwh(): number {
    return this.batteryCapacity;
  }
  batterySocFraction(): number {
    return this.batteryEnergy / this.batteryCapacity;
  }
  batteryMaxChargeKw(): number {
    return this.maxChargeKw;
  }
  batteryMaxDischargeKw(): number {
    return this.maxDischargeKw;
  }
  batteryPackVoltageV(): number {
    return this.packVoltageV;
  }
  batteryCellVoltagesV(): number[] {
    return this.cellVoltagesV;
  }
  batteryTemperaturesC(): number[] {
    return this.temperaturesC;
  }
  setBatterySetpointKw(powerKw: number): void {
    this.batterySetpoint = powerKw;
    this.batteryKw = Math.max(-this.maxChargeKw, Math.min(this.maxDischargeKw, powerKw));
  }
  relayOn(channel: number): boolean {
    return this.relays.get(channel) ?? false;
  }
  setRelay(channel: number, on: boolean): void {
    this.relays.set(channel, on);
  }
}
