/**
 * How long Modbus RTU frames occupy an RS-485 line: 10 bits per byte (start, 8 data, stop —
 * the convention the limit uses) and a 3.5-character silence that ends each frame.
 * The simulated slave waits this long before answering and the benchmark compares against it.
 */
const BITS_PER_CHARACTER = 10;

export function characterMs(baudRate: number): number {
  return (BITS_PER_CHARACTER * 1000) / baudRate;
}

/** Time one frame of `bytes` bytes holds the line, including the silence that ends it. */
function frameWireMs(bytes: number, baudRate: number): number {
  return (bytes + 3.5) * characterMs(baudRate);
}

/** One request/response exchange: both frames and both silences. */
export function exchangeWireMs(requestBytes: number, responseBytes: number, baudRate: number): number {
  return frameWireMs(requestBytes, baudRate) + frameWireMs(responseBytes, baudRate);
}
