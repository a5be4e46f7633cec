#!/usr/bin/env node
// The installed command (`bin`, `npm start`, the systemd unit) runs this file compiled, from dist/.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
