"""Serves Modbus points over TCP with pymodbus (an independent Modbus implementation) and encodes
them with Python's struct (an independent codec), for interop tests of the register-map driver.

stdin: one JSON line {"points": [{"table": "input"|"holding", "address": <0-based>, "type":
"u16"|"s16"|"u32"|"s32"|"f32", "wordOrder": "high-first"|"low-first", "raw": <number>}, ...]}
stdout: the TCP port it listens on (127.0.0.1, ephemeral); it serves until stdin closes.
"""
import asyncio
import json
import struct
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server.async_io import ModbusTcpServer

FORMATS = {"u16": ">H", "s16": ">h", "u32": ">I", "s32": ">i", "f32": ">f"}


def words(point):
    data = struct.pack(FORMATS[point["type"]], point["raw"])
    regs = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    return list(reversed(regs)) if point.get("wordOrder") == "low-first" else regs


async def main():
    spec = json.loads(sys.stdin.readline())
    tables = {"input": {}, "holding": {}}
    for point in spec["points"]:
        for i, w in enumerate(words(point)):
            tables[point["table"]][point["address"] + i] = w
    # zero_mode: request address N reads register N, no +1 shift; only the listed registers exist.
    slave = ModbusSlaveContext(
        ir=ModbusSparseDataBlock(tables["input"] or {0: 0}),
        hr=ModbusSparseDataBlock(tables["holding"] or {0: 0}),
        zero_mode=True,
    )
    server = ModbusTcpServer(ModbusServerContext(slaves=slave, single=True), address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print(server.server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    task.cancel()


asyncio.run(main())
