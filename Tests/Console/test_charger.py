"""The console test's own charger: an OCPP 1.6 charge point on the independent `ocpp`
package (mobilityhouse) that runs in a thread of the test, records every call the server
sends it, answers them Accepted, and sends a StatusNotification when the test asks.

At its start it boots, reports connector 1 Available and connector 2 Faulted (GroundFailure),
and charges one session on connector 1 with ten MeterValues a minute apart, dated in the
last quarter hour, so that the charger and session pages have history to show.
"""

import asyncio
import threading
from datetime import datetime, timedelta, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (Action, AvailabilityStatus, RemoteStartStopStatus, ResetStatus,
                            TriggerMessageStatus, UnlockStatus)


def stamp(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordingChargePoint(ChargePoint):
    """Answers the server's commands and records them as (action, payload) pairs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = []
        self.received_lock = threading.Lock()

    def record(self, action, payload):
        with self.received_lock:
            self.received.append((action, payload))

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        self.record("Reset", {"type": type})
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id, **kwargs):
        self.record("UnlockConnector", {"connector_id": connector_id})
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @on(Action.change_availability)
    def on_availability(self, connector_id, type, **kwargs):
        self.record("ChangeAvailability", {"connector_id": connector_id, "type": type})
        return call_result.ChangeAvailability(status=AvailabilityStatus.accepted)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, **kwargs):
        self.record("RemoteStartTransaction", dict(kwargs, id_tag=id_tag))
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **kwargs):
        self.record("RemoteStopTransaction", {"transaction_id": transaction_id})
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.trigger_message)
    def on_trigger(self, requested_message, **kwargs):
        self.record("TriggerMessage", dict(kwargs, requested_message=requested_message))
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)


class TestCharger:
    """Runs the charge point on its own event loop thread."""

    def __init__(self, url, charge_point_id, id_tag):
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.charge_point_id = charge_point_id
        self.id_tag = id_tag
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failure = None
        self.transaction_id = None
        self.point = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout=60):
        self.thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError("the test charger did not finish its start in %d s" % timeout)
        if self.failure:
            raise RuntimeError("the test charger failed: %r" % (self.failure,))

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except Exception as error:  # reported to the test through start() or received()
            self.failure = error
            self.ready.set()

    async def _main(self):
        async with websockets.connect(self.url, subprotocols=["ocpp1.6"]) as socket:
            self.point = RecordingChargePoint(self.charge_point_id, socket)
            listener = asyncio.create_task(self.point.start())
            await self.point.call(call.BootNotification(charge_point_vendor="ConsoleTest",
                                                        charge_point_model="Selenium-16", firmware_version="1.0"))
            now = datetime.now(timezone.utc)
            await self.status(1, "Available", moment=now - timedelta(minutes=13))
            await self.status(2, "Faulted", error_code="GroundFailure", moment=now - timedelta(minutes=12))
            start_time = now - timedelta(minutes=11)
            start = await self.point.call(call.StartTransaction(connector_id=1, id_tag=self.id_tag,
                                                                meter_start=1000, timestamp=stamp(start_time)))
            self.transaction_id = start.transaction_id
            energy = 1000
            for index in range(10):
                moment = start_time + timedelta(minutes=index + 1)
                power = 7000 + 100 * index
                energy += round(power / 60)
                await self.point.call(call.MeterValues(
                    connector_id=1, transaction_id=self.transaction_id,
                    meter_value=[{"timestamp": stamp(moment), "sampled_value": [
                        {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": str(power), "measurand": "Power.Active.Import", "unit": "W"},
                    ]}]))
            stop_time = start_time + timedelta(minutes=10, seconds=30)
            await self.point.call(call.StopTransaction(transaction_id=self.transaction_id, meter_stop=energy,
                                                       timestamp=stamp(stop_time), reason="EVDisconnected"))
            self.energy_wh = energy - 1000
            self.ready.set()
            await listener

    async def status(self, connector_id, status, error_code="NoError", moment=None):
        await self.point.call(call.StatusNotification(
            connector_id=connector_id, error_code=error_code, status=status,
            timestamp=stamp(moment or datetime.now(timezone.utc))))

    def send_status(self, connector_id, status, error_code="NoError", timeout=30):
        """Sends a StatusNotification now, from the test's thread; returns once it is answered."""
        future = asyncio.run_coroutine_threadsafe(self.status(connector_id, status, error_code), self.loop)
        future.result(timeout)

    def received(self):
        """The calls the server sent so far, as (action, payload) pairs."""
        if self.failure:
            raise RuntimeError("the test charger failed: %r" % (self.failure,))
        with self.point.received_lock:
            return list(self.point.received)

    def stop(self):
        if self.point is not None:
            async def close():
                await self.point._connection.close()
            try:
                asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            except Exception:
                pass
