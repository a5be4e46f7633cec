/** One day of a rental as the CES and a household both book it: 6 kWh, deposits at noon, withdrawals in the evening, a residue left. */
import { accountChangeKwh, type AccountMovement, type AccountSettlement, type RentalBooking } from '../../src/ces/rental-ledger.ts';

const dayMs = Date.UTC(2016, 6, 1);
const hour = 3_600_000;

export function rentalDay(): { booking: RentalBooking; movements: AccountMovement[]; settlement: AccountSettlement } {
  const booking: RentalBooking = { bookingId: 'b-2016-07-01-residential1', ces: 'ces', household: 'residential1', dayMs, capacityKwh: 6, powerKw: 3, priceEurPerKwhDay: 0.01, efficiency: 0.95, throughputFeeEurPerKwh: 0.01, residueCreditEurPerKwh: 0.08 };
  const meter = [1.5, 2.5, 1.2, -1.0, -2.0, -1.0, -0.4];
  const movements = meter.map((meterKwh, k): AccountMovement => ({ movementId: `${booking.bookingId}-m${k}`, bookingId: booking.bookingId, slotStartMs: dayMs + (11 + k) * hour, meterKwh }));
  const residueKwh = meter.reduce((a, v) => a + accountChangeKwh(booking, v), 0);
  return { booking, movements, settlement: { bookingId: booking.bookingId, residueKwh } };
}

/** What the household owes the CES for the day, computed by hand from the terms. */
export function rentalDayDueEur(): number {
  const { booking, movements, settlement } = rentalDay();
  return booking.priceEurPerKwhDay * booking.capacityKwh + movements.reduce((a, m) => a + booking.throughputFeeEurPerKwh * Math.abs(m.meterKwh), 0) - booking.residueCreditEurPerKwh * settlement.residueKwh;
}
