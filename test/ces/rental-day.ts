/** One day of a rental as the CES and a household both book it: 6 kWh, deposits at noon, withdrawals in the evening. */
import type { AccountMovement, AccountSettlement, RentalBooking } from '../../src/ces/rental-ledger.ts';

const dayMs = Date.UTC(2016, 6, 1);
const hour = 3_600_000;

export function rentalDay(): { booking: RentalBooking; movements: AccountMovement[]; settlement: AccountSettlement } {
  const booking: RentalBooking = { bookingId: 'b-2016-07-01-residential1', ces: 'ces', household: 'residential1', dayMs, capacityKwh: 6, powerKw: 3, priceEurPerKwhDay: 0.01 };
  const energy = [1.5, 2.5, 1.2, -1.0, -2.0, -1.4, -0.5];
  const movements = energy.map((energyKwh, k): AccountMovement => ({ movementId: `${booking.bookingId}-m${k}`, bookingId: booking.bookingId, slotStartMs: dayMs + (11 + k) * hour, energyKwh, feeEurPerKwh: 0.01 }));
  const residueKwh = energy.reduce((a, v) => a + v, 0);
  return { booking, movements, settlement: { bookingId: booking.bookingId, residueKwh, creditEurPerKwh: 0.08 } };
}

/** What the household owes the CES for the day, computed by hand from the terms. */
export function rentalDayDueEur(): number {
  const { booking, movements, settlement } = rentalDay();
  return booking.priceEurPerKwhDay * booking.capacityKwh + movements.reduce((a, m) => a + m.feeEurPerKwh * Math.abs(m.energyKwh), 0) - settlement.creditEurPerKwh * settlement.residueKwh;
}
