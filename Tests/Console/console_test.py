"""Drives the operator console in a headless Chromium against a running server.

scripts/test.sh starts the server (SQLite, loopback), makes an operator and an analyst
token, and runs ocpp-loadgen's fleet beside it; this test adds its own charger
(test_charger.py) and checks, in the browser, what each page shows against what the API
answers, that a command button reaches the charger, that a status change appears without a
reload, that an analyst gets no command buttons, and that no request leaves loopback.
Screenshots of every page go to SCREENSHOT_DIR.

Environment: CONSOLE_URL (http://127.0.0.1:PORT), OCPP_URL (ws://127.0.0.1:PORT/ocpp),
OPERATOR_TOKEN, ANALYST_TOKEN, LOADGEN_CHARGERS (how many loadgen runs), SCREENSHOT_DIR,
OCPP_SERVER_BIN and CONSOLE_DATABASE_URL (to make a company's token with the CLI),
CHROMIUM (/usr/bin/chromium), CHROMEDRIVER (/usr/bin/chromedriver).
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_charger import TestCharger  # noqa: E402

BASE = os.environ["CONSOLE_URL"].rstrip("/")
OCPP_URL = os.environ["OCPP_URL"]
OPERATOR = os.environ["OPERATOR_TOKEN"]
ANALYST = os.environ["ANALYST_TOKEN"]
LOADGEN_CHARGERS = int(os.environ.get("LOADGEN_CHARGERS", "0"))
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", ".build/console-screenshots")
CHARGER_ID = "CONSOLE-CP"
ID_TAG = "CONSOLE-TAG"

checks = []


def check(condition, what):
    checks.append(what)
    if not condition:
        raise AssertionError(what)
    print("ok  " + what, flush=True)


def api(path, token=OPERATOR):
    request = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_write(method, path, body):
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode(), headers={
        "Authorization": "Bearer " + OPERATOR, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_list(path):
    separator = "&" if "?" in path else "?"
    return api(path + separator + "limit=1000")["items"]


def eventually(what, probe, timeout=30, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except Exception as error:  # the page may be re-rendering
            last = error
        time.sleep(interval)
    raise AssertionError("%s: not within %d s (last: %r)" % (what, timeout, last))


def browser(download_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-proxy-server",
                     "--window-size=1366,768", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-default-apps", "--disable-sync",
                     "--disable-extensions", "--metrics-recording-only", "--disable-gpu", "--lang=en-US",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir})
    return driver


requested = []


def collect_requests(driver):
    """Every request the page made since the last call, from the DevTools Network events."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])


def check_accessible(driver, page):
    """Every control has a label or a name, every table a caption, every chart a text alternative."""
    problems = driver.execute_script("""
        const problems = [];
        document.querySelectorAll("main input, main select").forEach(function (e) {
            if (!e.labels || e.labels.length === 0) problems.push("unlabelled " + e.tagName + "#" + e.id);
        });
        document.querySelectorAll("main table").forEach(function (t) {
            if (!t.caption || !t.caption.textContent.trim()) problems.push("table without caption");
            if (t.querySelectorAll("th[scope]").length === 0) problems.push("table without header cells");
        });
        document.querySelectorAll("button").forEach(function (b) {
            if (!b.textContent.trim() && !b.getAttribute("aria-label")) problems.push("nameless button");
        });
        document.querySelectorAll("main svg").forEach(function (svg) {
            const desc = svg.querySelector("desc");
            if (svg.getAttribute("role") !== "img" || !desc || !desc.textContent.trim()) problems.push("mute chart");
        });
        if (!document.querySelector("[aria-live]")) problems.push("no live region");
        return problems;
    """)
    check(problems == [], "the %s page labels its controls, tables and charts: %r" % (page, problems))


def screenshot(driver, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 768)")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1366, "height": min(height, 4000), "scale": 1}})
    path = os.path.join(SCREENSHOTS, name + ".png")
    with open(path, "wb") as file:
        file.write(base64.b64decode(shot["data"]))
    print("screenshot " + path, flush=True)


def sign_in(driver, token):
    driver.get(BASE + "/")
    field = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "token-input"))
    eventually("the sign-in form shows", lambda: field.is_displayed())
    field.send_keys(token + Keys.ENTER)
    eventually("signed in", lambda: driver.find_element(By.ID, "who-text").text.startswith("Signed in as"))


def mark_page(driver):
    """A value that lives only as long as the page: a reload would lose it."""
    driver.execute_script("window.consoleTestMark = 'still the same page';")


def same_page(driver):
    return driver.execute_script("return window.consoleTestMark") == "still the same page"


def chart_points(buckets):
    """The points a chart of these buckets has: one per line (connector, phase, location) and bucket;
    the store's series of other contexts (Transaction.Begin, ...) share their line's point."""
    return len({(b["connector_id"], b["phase"], b["location"], b["bucket_start"])
                for b in buckets if isinstance(b["value"], (int, float))})


def fleet_expectations():
    """What the fleet page should show, computed here from the API by the page's rule."""
    chargers = api_list("/db/chargers/")
    connectors = api_list("/db/connectors/")
    connected = {p["charge_point_id"] for p in api_list("/charge_points")}
    statuses = {}
    for charger in chargers:
        own = [c for c in connectors if c["charger_id"] == charger["id"] and c["status"]]
        if any(c["status"] == "Faulted" for c in own):
            statuses[charger["charge_point_id"]] = "Faulted"
        elif own:
            statuses[charger["charge_point_id"]] = max(own, key=lambda c: c["status_at"] or "")["status"]
        else:
            statuses[charger["charge_point_id"]] = "Unknown"
    return chargers, statuses, connected


def test_fleet(driver, charger):
    sign_in(driver, OPERATOR)
    table = eventually("the fleet table", lambda: driver.find_element(By.ID, "fleet-chargers"))
    chargers, statuses, connected = fleet_expectations()
    check(len(chargers) >= LOADGEN_CHARGERS + 1, "the API knows the loadgen fleet and the test charger")

    def rows():
        return driver.find_elements(By.CSS_SELECTOR, "#fleet-chargers tbody tr")
    eventually("every charger is listed", lambda: len(rows()) == len(chargers))
    shown = eventually("the rows", lambda: [row.get_attribute("data-charge-point-id") for row in rows()])
    check(set(shown) == {c["charge_point_id"] for c in chargers}, "the fleet lists every charger the API has")
    check(shown[0] == CHARGER_ID, "the faulted charger is listed first")

    def row_of(cpid):
        return driver.find_element(By.CSS_SELECTOR, "#fleet-chargers tr[data-charge-point-id='%s']" % cpid)
    check(eventually("status", lambda: row_of(CHARGER_ID).get_attribute("data-status")) == "Faulted",
          "the test charger shows Faulted")
    connection = eventually("connection", lambda: row_of(CHARGER_ID).find_elements(By.TAG_NAME, "td")[0].text)
    check(connection == "Connected", "the test charger shows Connected")

    def page_matches_api():
        # The loadgen chargers keep changing: the page and a fresh read of the API must agree at some moment.
        chargers, statuses, connected = fleet_expectations()
        page = {r.get_attribute("data-charge-point-id"): r.get_attribute("data-status") for r in rows()}
        counts = {li.get_attribute("data-status"): li.find_element(By.TAG_NAME, "strong").text
                  for li in driver.find_elements(By.CSS_SELECTOR, "#fleet-counts li")}
        expected_counts = {"Total": str(len(chargers)), "Connected": str(len(connected))}
        for status in statuses.values():
            expected_counts[status] = str(int(expected_counts.get(status, "0")) + 1)
        return page == statuses and counts == expected_counts
    eventually("every row's status and every count agree with the API", page_matches_api, timeout=45, interval=0.5)
    check(True, "every charger's status and the counts by status are the API's")
    check("ago" in eventually("the row", lambda: row_of(CHARGER_ID).text), "last seen is shown")

    search = driver.find_element(By.ID, "fleet-search")
    search.send_keys("console")
    eventually("search narrows to the test charger",
               lambda: [r.get_attribute("data-charge-point-id") for r in rows()] == [CHARGER_ID])
    search.clear()
    search.send_keys("LG-")
    eventually("search by the loadgen prefix", lambda: len(rows()) == LOADGEN_CHARGERS and all(
        r.get_attribute("data-charge-point-id").startswith("LG-") for r in rows()))
    check(True, "search by id filters the table")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    eventually("search cleared", lambda: len(rows()) == len(chargers))

    # A live change: connector 2 recovers, so the charger is no longer faulted; no reload.
    mark_page(driver)
    if "/db/meter-values/stream" in api("/openapi.json")["paths"]:
        eventually("the fleet's status stream is open",
                   lambda: driver.find_element(By.ID, "fleet-live").get_attribute("data-state") == "live")
    live_state = driver.find_element(By.ID, "fleet-live").get_attribute("data-state")
    charger.send_status(2, "Available")
    eventually("the fleet row changes without a reload",
               lambda: row_of(CHARGER_ID).get_attribute("data-status") != "Faulted", timeout=20)
    check(same_page(driver), "the fleet page updated live (%s), without a reload" % live_state)
    charger.send_status(2, "Faulted", error_code="GroundFailure")
    eventually("faulted again, first again", lambda: rows()[0].get_attribute("data-charge-point-id") == CHARGER_ID
               and rows()[0].get_attribute("data-status") == "Faulted", timeout=20)
    check_accessible(driver, "fleet")
    screenshot(driver, "fleet")
    collect_requests(driver)


def test_charger(driver, charger):
    db_charger = api_list("/db/chargers/?charge_point_id=" + CHARGER_ID)[0]
    driver.find_element(By.CSS_SELECTOR, "#fleet-chargers a[href='#/chargers/%d']" % db_charger["id"]).click()
    eventually("the charger page", lambda: driver.find_element(By.ID, "charger-id").text == CHARGER_ID)
    eventually("the connectors", lambda: driver.find_element(By.ID, "connectors-table"))
    connector_status = lambda n: driver.find_element(
        By.CSS_SELECTOR, "#connectors-table tr[data-connector-id='%d']" % n).get_attribute("data-status")
    check(connector_status(2) == "Faulted", "connector 2 shows Faulted")
    check(connector_status(1) == "Available", "connector 1 shows Available")
    timeline = [li.get_attribute("data-status") for li in driver.find_elements(By.CSS_SELECTOR, "#charger-timeline li")]
    history = api("/db/chargers/%d/status-history?order=desc&limit=50" % db_charger["id"])["items"]
    check(timeline == [row["status"] for row in history], "the timeline is the status history, newest first")
    check("Faulted" in timeline and "Available" in timeline, "the timeline shows the charger's statuses")

    # The chart: the history API's buckets for the selection the page shows.
    figure = eventually("the meter chart", lambda: driver.find_element(By.CSS_SELECTOR, "#charger-chart figure"))
    points = int(figure.get_attribute("data-points"))
    to = datetime.now(timezone.utc)
    query = urllib.parse.urlencode({"measurand": "Power.Active.Import", "bucket": "1m", "agg": "avg",
                                    "from": (to - timedelta(hours=1)).isoformat(), "to": to.isoformat()})
    buckets = api("/db/chargers/%d/meter-values?%s" % (db_charger["id"], query))["items"]
    check(points == chart_points(buckets) and points >= 10,
          "the chart draws the history's %d power buckets" % chart_points(buckets))
    check(len(figure.find_elements(By.CSS_SELECTOR, "svg path.series")) >= 1, "the chart has a line")
    check("Power.Active.Import" in figure.find_element(By.CSS_SELECTOR, "svg desc").get_attribute("textContent"),
          "the chart has a text alternative")
    # Another measurand and bucket, chosen by the user.
    driver.find_element(By.CSS_SELECTOR, "#chart-measurand option[value='Energy.Active.Import.Register']").click()
    driver.find_element(By.CSS_SELECTOR, "#chart-bucket option[value='5m']").click()
    query = urllib.parse.urlencode({"measurand": "Energy.Active.Import.Register", "bucket": "5m", "agg": "avg",
                                    "from": (to - timedelta(hours=1)).isoformat(), "to": to.isoformat()})
    energy_buckets = api("/db/chargers/%d/meter-values?%s" % (db_charger["id"], query))["items"]
    eventually("the chart follows the selection", lambda: "Energy.Active.Import.Register" in driver.find_element(
        By.CSS_SELECTOR, "#charger-chart svg title").get_attribute("textContent")
        and int(driver.find_element(By.CSS_SELECTOR, "#charger-chart figure").get_attribute("data-points"))
        == chart_points(energy_buckets))
    check(chart_points(energy_buckets) >= 3,
          "the chart redraws with the chosen measurand and bucket (%d points from %d buckets of its contexts)"
          % (chart_points(energy_buckets), len(energy_buckets)))

    driver.find_element(By.CSS_SELECTOR, "#chart-measurand option[value='Power.Active.Import']").click()
    driver.find_element(By.CSS_SELECTOR, "#chart-bucket option[value='1m']").click()
    eventually("the power chart again", lambda: int(driver.find_element(
        By.CSS_SELECTOR, "#charger-chart figure").get_attribute("data-points")) == points)

    sessions = [tr.get_attribute("data-session-id") for tr in
                eventually("the sessions", lambda: driver.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr"))]
    check(sessions == [str(charger.transaction_id)], "the sessions table lists the charger's session")

    # Live: a StatusNotification from the charger appears on the open page.
    mark_page(driver)
    eventually("the charger stream is live",
               lambda: driver.find_element(By.ID, "charger-live").get_attribute("data-state") == "live")
    charger.send_status(1, "Preparing")
    eventually("connector 1 turns Preparing without a reload", lambda: connector_status(1) == "Preparing", timeout=20)
    check(same_page(driver), "the status change appeared without a reload")
    check(driver.find_element(By.CSS_SELECTOR, "#charger-timeline li").get_attribute("data-status") == "Preparing",
          "the timeline shows the new status first")

    # Commands: cancelled, nothing is sent; confirmed, the charger gets it.
    before = len(charger.received())
    driver.find_element(By.ID, "cmd-reset").click()
    eventually("the confirmation", lambda: driver.find_element(By.ID, "confirm").is_displayed())
    driver.find_element(By.ID, "confirm-cancel").click()
    eventually("cancelled", lambda: "not sent" in driver.find_element(By.ID, "command-result").text)
    time.sleep(1)
    check(len(charger.received()) == before, "a cancelled command is not sent")
    driver.find_element(By.CSS_SELECTOR, "#cmd-reset-type option[value='Hard']").click()
    driver.find_element(By.ID, "cmd-reset").click()
    eventually("the confirmation", lambda: driver.find_element(By.ID, "confirm").is_displayed())
    driver.find_element(By.ID, "confirm-ok").click()
    eventually("the charger's answer is shown",
               lambda: "Accepted" in driver.find_element(By.ID, "command-result").text)
    check(charger.received()[before:] == [("Reset", {"type": "Hard"})], "the charger received the Hard reset")
    driver.find_element(By.CSS_SELECTOR, "#cmd-unlock-connector option[value='2']").click()
    driver.find_element(By.ID, "cmd-unlock").click()
    eventually("the confirmation", lambda: driver.find_element(By.ID, "confirm").is_displayed())
    driver.find_element(By.ID, "confirm-ok").click()
    eventually("unlocked", lambda: "Unlocked" in driver.find_element(By.ID, "command-result").text)
    check(charger.received()[-1] == ("UnlockConnector", {"connector_id": 2}), "the charger received the unlock")
    check_accessible(driver, "charger")
    screenshot(driver, "charger")
    collect_requests(driver)


def test_session(driver, charger):
    driver.find_element(By.CSS_SELECTOR, "#sessions-table a[href='#/sessions/%d']" % charger.transaction_id).click()
    eventually("the summary", lambda: driver.find_element(By.ID, "summary-table"))
    summary = api("/db/charge_sessions/%d/summary" % charger.transaction_id)
    shown = driver.find_element(By.ID, "summary-energy").text
    check(shown.startswith("%.3f kWh" % (summary["energy_wh"] / 1000)) or
          shown.startswith(("%.3f" % (summary["energy_wh"] / 1000)).rstrip("0").rstrip(".") + " kWh"),
          "the summary shows the session's energy (%s)" % shown)
    check(abs(summary["energy_wh"] - charger.energy_wh) < 1e-6, "the summary's energy is what the charger metered")
    energy = eventually("the energy curve", lambda: driver.find_element(By.CSS_SELECTOR, "#session-energy figure"))
    power = eventually("the power curve", lambda: driver.find_element(By.CSS_SELECTOR, "#session-power figure"))
    samples = api("/db/charge_sessions/%d/meter-values?measurand=Power.Active.Import&limit=10000"
                  % charger.transaction_id)["items"]
    check(int(power.get_attribute("data-points")) == len(samples) == 10, "the power curve has the session's 10 samples")
    check(int(energy.get_attribute("data-points")) >= 10, "the energy curve has the session's register samples")
    driver.find_element(By.ID, "csv-download").click()
    link = eventually("the CSV link", lambda: driver.find_element(By.ID, "csv-link"))
    check(link.get_attribute("href").startswith("blob:"), "the CSV is a blob: no token in a URL")
    path = os.path.join(DOWNLOADS, "session-%d.csv" % charger.transaction_id)
    eventually("the CSV file is saved", lambda: os.path.exists(path) and os.path.getsize(path) > 0)
    with open(path) as file:
        lines = file.read().splitlines()
    check(lines[0].startswith("timestamp,") and len(lines) > 20, "the CSV has a header and the samples")
    check_accessible(driver, "session")
    screenshot(driver, "session")
    collect_requests(driver)


def test_analyst(driver):
    driver.find_element(By.ID, "sign-out").click()
    eventually("signed out", lambda: driver.find_element(By.ID, "token-input").is_displayed())
    check(driver.execute_script("return sessionStorage.length") == 0, "signing out forgets the token")
    sign_in(driver, ANALYST)
    db_charger = api_list("/db/chargers/?charge_point_id=" + CHARGER_ID)[0]
    driver.get(BASE + "/#/chargers/%d" % db_charger["id"])
    eventually("the analyst's charger page", lambda: driver.find_element(By.ID, "commands-not-allowed"))
    check(driver.find_elements(By.CSS_SELECTOR, "#charger-commands button") == [], "an analyst gets no command buttons")
    check("analyst" in driver.find_element(By.ID, "commands-not-allowed").text, "the page says why")
    check_accessible(driver, "charger-analyst")
    screenshot(driver, "charger-analyst")
    collect_requests(driver)


def test_company(driver):
    """A token limited to a company sees that company's chargers only."""
    company = api_write("POST", "/db/companies/", {"name": "Console Tenant"})
    site = api_write("POST", "/db/sites/", {"company_id": company["id"], "name": "Depot"})
    tenant_charger = api_list("/db/chargers/?charge_point_id=LG-0")[0]
    api_write("PATCH", "/db/chargers/%d" % tenant_charger["id"], {"site_id": site["id"]})
    created = subprocess.run(
        [os.environ["OCPP_SERVER_BIN"], "token", "create", "--role", "operator", "--company", str(company["id"]),
         "--name", "console-tenant", "--database-url", os.environ["CONSOLE_DATABASE_URL"]],
        check=True, capture_output=True, text=True)
    token = created.stdout.strip().splitlines()[-1]
    driver.find_element(By.ID, "sign-out").click()
    eventually("signed out", lambda: driver.find_element(By.ID, "token-input").is_displayed())
    sign_in(driver, token)
    check("company %d" % company["id"] in driver.find_element(By.ID, "who-text").text, "the page names the company")
    eventually("the company's fleet", lambda: [r.get_attribute("data-charge-point-id") for r in
                                              driver.find_elements(By.CSS_SELECTOR, "#fleet-chargers tbody tr")]
               == ["LG-0"])
    check(True, "a company's token sees only the company's charger")
    collect_requests(driver)
    return token


def main():
    global DOWNLOADS
    DOWNLOADS = tempfile.mkdtemp(prefix="console-downloads-")
    started = time.monotonic()
    charger = TestCharger(OCPP_URL, CHARGER_ID, ID_TAG)
    charger.start()
    eventually("the loadgen fleet has reported", lambda: len([c for c in api_list("/db/connectors/")
                                                              if c["status"]]) >= LOADGEN_CHARGERS + 2, timeout=60)
    driver = browser(DOWNLOADS)
    try:
        test_fleet(driver, charger)
        test_charger(driver, charger)
        test_session(driver, charger)
        test_analyst(driver)
        tenant = test_company(driver)
        collect_requests(driver)
        outside = [url for url in requested
                   if not (url.startswith(BASE + "/") or url.startswith("data:") or url.startswith("blob:" + BASE))]
        check(len(requested) > 20 and outside == [], "all %d requests stayed on loopback" % len(requested))
        check(not any(token in url for url in requested for token in (OPERATOR, ANALYST, tenant)),
              "no token in any URL")
        # Script errors only: answers the API refused are the pages' business, and shown there.
        errors = [entry for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE" and entry.get("source") != "network"]
        check(errors == [], "no script error in the browser console: %r" % errors)
    except Exception:
        try:
            screenshot(driver, "failure")
        except Exception:
            pass
        raise
    finally:
        driver.quit()
        charger.stop()
    print("console test: %d checks passed in %.0f s; screenshots in %s" % (
        len(checks), time.monotonic() - started, SCREENSHOTS), flush=True)


if __name__ == "__main__":
    main()
