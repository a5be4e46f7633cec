"""Serves a fixed holding-register image over Modbus TCP with pymodbus (an independent
Modbus implementation), for interop tests of the SunSpec driver.

stdin: JSON {"base": <first register address, 0-based>, "registers": [<uint16>, ...]}
stdout: the TCP port it listens on (127.0.0.1, ephemeral), then it serves until stdin closes.
"""
import asyncio
import json
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer


async def main():
    spec = json.loads(sys.stdin.readline())
    # zero_mode: request address N reads values[N - base], no +1 shift.
    slave = ModbusSlaveContext(hr=ModbusSequentialDataBlock(spec["base"], spec["registers"]), zero_mode=True)
    server = ModbusTcpServer(ModbusServerContext(slaves=slave, single=True), address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print(server.server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    task.cancel()


asyncio.run(main())
