"""An OCPP 1.6 charge point built on the independent `ocpp` package (mobilityhouse).

The interop test starts it against the server: it sends every charger-initiated message
the server handles, answers the server's Reset call, and prints what it was told as one
JSON object on its last line of output. Usage: interop_charge_point.py WS_URL ID_TAG
"""

import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import Action, ResetStatus

START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def stamp(offset_seconds):
    return (START + timedelta(seconds=offset_seconds)).isoformat().replace("+00:00", "Z")


def sampled(energy, offset):
    return {
        "timestamp": stamp(offset),
        "sampled_value": [
            {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
             "context": "Sample.Periodic"},
            {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "230.4", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        ],
    }


class InteropChargePoint(ChargePoint):
    reset_requested = None

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        self.reset_requested.set_result(type)
        return call_result_reset()


def call_result_reset():
    from ocpp.v16 import call_result
    return call_result.Reset(status=ResetStatus.accepted)


async def run(url, id_tag):
    report = {}
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as socket:
        cp = InteropChargePoint("PY-CP", socket)
        cp.reset_requested = asyncio.get_running_loop().create_future()
        listener = asyncio.create_task(cp.start())

        boot = await cp.call(call.BootNotification(charge_point_vendor="Interop", charge_point_model="Py-16",
                                                    firmware_version="2.1.0"))
        report["boot_status"] = boot.status
        report["heartbeat_interval"] = boot.interval
        heartbeat = await cp.call(call.Heartbeat())
        report["heartbeat_time"] = heartbeat.current_time
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              timestamp=stamp(0)))
        authorize = await cp.call(call.Authorize(id_tag=id_tag))
        report["authorize_status"] = authorize.id_tag_info["status"]
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=10000,
                                                    timestamp=stamp(1)))
        transaction_id = start.transaction_id
        report["transaction_id"] = transaction_id
        report["start_status"] = start.id_tag_info["status"]
        for index in range(3):
            await cp.call(call.MeterValues(connector_id=1, transaction_id=transaction_id,
                                           meter_value=[sampled(10000 + 500 * (index + 1), 60 * (index + 1))]))
        stop = await cp.call(call.StopTransaction(
            transaction_id=transaction_id, meter_stop=12000, timestamp=stamp(300), id_tag=id_tag,
            reason="EVDisconnected",
            transaction_data=[{"timestamp": stamp(300), "sampled_value": [
                {"value": "12000", "context": "Transaction.End"},
                {"value": "0", "measurand": "Power.Active.Import", "unit": "W"}]}]))
        report["stop_status"] = stop.id_tag_info["status"] if stop.id_tag_info else None
        transfer = await cp.call(call.DataTransfer(vendor_id="org.interop", message_id="hello", data="{}"))
        report["data_transfer_status"] = transfer.status
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.SecurityEventNotification(type="StartupOfTheDevice", timestamp=stamp(400),
                                                     tech_info="interop run"))
        sign = await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"))
        report["sign_certificate_status"] = sign.status
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=7))
        await cp.call(call.SignedFirmwareStatusNotification(status="Installed", request_id=8))
        print("awaiting-calls", flush=True)
        report["reset_type"] = await asyncio.wait_for(cp.reset_requested, timeout=30)
        # Let the answer to Reset go out before closing.
        await asyncio.sleep(0.2)
        listener.cancel()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2]))
