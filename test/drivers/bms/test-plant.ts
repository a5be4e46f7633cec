/** A plant with numbers the test sets by hand, for the simulated devices to read and command. */
import type { PlantView } from '../../../sim/plant/plant-view.ts';

export class TestPlant implements PlantView {
  pvKw = 0;
  netImportKw = 0;
  batteryKw = 0;
  capacityKwh = 10;
  socFraction = 0.5;
  maxChargeKw = 5;
  maxDischargeKw = 5;
  cellVoltagesV = Array.from({ length: 16 }, () => 3.3);
  temperaturesC = [25, 24.5, 23];
  readonly relays = new Map<number, boolean>();

  pvAcPowerKw = () => this.pvKw;
  pvRatedPowerKw = () => 5;
  pvEnergyKwh = () => 0;
  setPvLimitFraction(): void {}
  meterNetImportKw = () => this.netImportKw;
  meterImportedEnergyKwh = () => 0;
  meterExportedEnergyKwh = () => 0;
  gridVoltageV = () => 230;
  gridFrequencyHz = () => 50;
  batteryPowerKw = () => this.batteryKw;
  batteryEnergyKwh = () => this.socFraction * this.capacityKwh;
  batteryCapacityKwh = () => this.capacityKwh;
  batterySocFraction = () => this.socFraction;
  batteryMaxChargeKw = () => this.maxChargeKw;
  batteryMaxDischargeKw = () => this.maxDischargeKw;
  batteryPackVoltageV = () => this.cellVoltagesV.reduce((a, b) => a + b, 0);
  batteryCellVoltagesV = () => [...this.cellVoltagesV];
  batteryTemperaturesC = () => [...this.temperaturesC];
  setBatterySetpointKw(powerKw: number): void {
    this.batteryKw = powerKw;
  }
  relayOn = (channel: number) => this.relays.get(channel) ?? false;
  setRelay(channel: number, on: boolean): void {
    this.relays.set(channel, on);
  }
}
