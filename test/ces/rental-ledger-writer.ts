/**
 * Child process of rental-ledger.test.ts: records one day of a rental in the CES's and the
 * household's books, movement by movement, and prints each movement's id once both books hold it.
 * The test kills it with SIGKILL part-way.
 */
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { rentalDay } from './rental-day.ts';

const [cesDir, householdDir, pauseMs] = process.argv.slice(2) as [string, string, string];
const ces = RentalLedger.open(cesDir, 'ces');
const household = RentalLedger.open(householdDir, 'residential1');
const day = rentalDay();
for (const book of [ces, household]) book.recordBooking(day.booking);
process.stdout.write('booked\n');
for (const movement of day.movements) {
  ces.recordMovement(movement);
  household.recordMovement(movement);
  process.stdout.write(`${movement.movementId}\n`);
  await new Promise((resolve) => setTimeout(resolve, Number(pauseMs)));
}
for (const book of [ces, household]) book.recordSettlement(day.settlement);
process.stdout.write('settled\n');
