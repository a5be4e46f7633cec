"""A Modbus TCP server built on pymodbus (not on this project's code), for the interop test.

Unit 1 holds registers 0..99 with 4000 + 7*i and coils 0..15 on for every even index.
Listens on 127.0.0.1 on an ephemeral port, prints "PORT <n>" once serving and stops when its
stdin closes, so it never outlives the test that started it.
"""
import asyncio
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer

logging.basicConfig(level=logging.CRITICAL)


async def main() -> None:
    unit = ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, [4000 + 7 * i for i in range(100)]),
        co=ModbusSequentialDataBlock(0, [i % 2 == 0 for i in range(16)]),
        zero_mode=True,
    )
    server = ModbusTcpServer(ModbusServerContext(slaves={1: unit}, single=False), address=("127.0.0.1", 0), defer_start=True)
    serving = asyncio.create_task(server.serve_forever())
    await server.serving
    print("PORT", server.server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    serving.cancel()


asyncio.run(main())
