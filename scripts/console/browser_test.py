"""The ops console in headless Chromium (Debian's chromium + chromium-driver, Selenium, axe-core bundled by
axe-selenium-python). Run by scripts/console-test, which seeds the database and starts `banksync serve`.

Checks: every screen at 1280x800 and 390x844 (PNG kept), DOM text, zero console errors (CSP violations
included), no request to another origin, zero axe violations; a keyboard-only action; a viewer sees no action and
a forged viewer POST gets 403; POSTs without Origin or from another origin get 403; /console is 404 on the public
listener; read-only mode refuses every action; the audit row of every action (read from the database).
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CONSOLE = os.environ["CONSOLE_URL"]          # operate mode
READ_ONLY = os.environ["READ_ONLY_URL"]      # read-only mode
PUBLIC = os.environ["PUBLIC_URL"]
DATABASE_URL = os.environ["DATABASE_URL"]
KEY = os.environ["CONSOLE_KEY"]
SHOTS = os.environ["SCREENSHOT_DIR"]
ACME = "0b5c6e2a-1d3f-4c8e-9a7b-0000000000a1"
BRAVO = "0b5c6e2a-1d3f-4c8e-9a7b-0000000000b2"
FIO = "0b5c6e2a-1d3f-4c8e-9a7b-0000000000d4"
SIZES = [(1280, 800), (390, 844)]
failures = []


def check(condition, message):
    if condition:
        print("  ok   " + message)
    else:
        print("  FAIL " + message)
        failures.append(message)


def sql(query):
    out = subprocess.run(["psql", DATABASE_URL, "-At", "-F", "|", "-c", query], check=True, capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.strip().splitlines() if line]


def browser(user=None, groups=None):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-default-apps", "--disable-extensions", "--hide-scrollbars"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    if user:
        # Stands in for the forward-auth proxy (the console trusts 127.0.0.1 in this test).
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-User": user, "X-Forwarded-Groups": groups}})
    return driver


def viewport(driver, width, height):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def foreign_requests(driver, origin):
    foreign = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(origin) and not url.startswith("data:"):
                foreign.append(url)
    return foreign


def screen(driver, name, path, texts, origin=CONSOLE):
    """Loads a screen at both sizes: screenshot, text assertions, console errors, other origins, axe."""
    for width, height in SIZES:
        viewport(driver, width, height)
        driver.get_log("browser")
        driver.get_log("performance")
        driver.get(origin + path)
        body = driver.find_element(By.TAG_NAME, "body").text
        for text in texts:
            check(text in body, f"{name} {width}x{height}: shows {text!r}")
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{width}x{height}.png"))
        axe = Axe(driver)
        axe.inject()
        results = axe.run()
        violations = results["violations"]
        check(not violations, f"{name} {width}x{height}: no axe violations"
              + ("" if not violations else ": " + "; ".join(f"{v['id']} ({len(v['nodes'])}: {v['nodes'][0]['target']})" for v in violations)))
        errors = console_errors(driver)
        check(not errors, f"{name} {width}x{height}: no console errors" + ("" if not errors else f": {errors}"))
        foreign = foreign_requests(driver, origin)
        check(not foreign, f"{name} {width}x{height}: no request to another origin" + ("" if not foreign else f": {foreign}"))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def inspect_current(driver, name):
    """The page the browser is on (an action's result): screenshot, axe, console errors."""
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
    axe = Axe(driver)
    axe.inject()
    violations = axe.run()["violations"]
    check(not violations, f"{name}: no axe violations" + ("" if not violations else ": " + "; ".join(v["id"] for v in violations)))
    errors = console_errors(driver)
    check(not errors, f"{name}: no console errors" + ("" if not errors else f": {errors}"))


def post(url, fields, headers):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    try:
        with OPENER.open(request) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def form_token(html):
    match = re.search(r'name="form_token" value="([^"]+)"', html)
    return match.group(1) if match else None


def submit_action(driver, action, target, reason=None, confirm=False):
    """Fills and submits one action form by mouse-free DOM calls (the keyboard-only test is separate)."""
    form = driver.find_element(By.CSS_SELECTOR, f'form[action="/console/actions/{action}"]:has(input[value="{target}"])')
    if reason is not None:
        form.find_element(By.NAME, "reason").send_keys(reason)
    if confirm:
        form.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    return result_text(driver, action)


def result_text(driver, action):
    """The action's result page, once the browser shows it."""
    WebDriverWait(driver, 30).until(lambda d: f"/console/actions/{action}" in d.current_url
                                    and d.execute_script("return document.readyState") == "complete")
    return driver.find_element(By.TAG_NAME, "body").text


def main():
    os.makedirs(SHOTS, exist_ok=True)
    account = sql("SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.merchant_id = 'acme-<script>'")[0][0]
    batch = sql("SELECT id FROM push_batches WHERE idempotency_key = 'console-test-refused'")[0][0]

    print("screens (approver through the proxy)")
    driver = browser("alice", "staff,banksync-approver")
    try:
        screen(driver, "attention", "/console", ["Needs attention", "acme-<script>", "Consents expiring within 14 days", "held",
                                                 "Refused, quarantined and unreadable rows", "Last run"])
        screen(driver, "customers", "/console/customers", ["Customers, worst first", "acme-<script>", "bravo", "charlie", "rejected"])
        screen(driver, "customers-filtered", "/console/customers?status=ok&q=char", ["charlie", "Customers, worst first"])
        check("acme" not in driver.find_element(By.TAG_NAME, "body").text, "the filters select in the database (no acme)")
        screen(driver, "customer", f"/console/customers/{ACME}", ["Consent valid until", "day(s) left", "Accounts of acme-<script>",
                                                                  "Timeline", "transactions_held", "Sync now", "Pause customer"])
        screen(driver, "reconciliation", f"/console/accounts/{account}/reconciliation",
               ["reconciled through 2026-11-19", "Flowpay holds vs the bank says", "2026-11-20", "50.00 CZK", "Acknowledge difference"])
        screen(driver, "held", "/console/held", ["bs_acmeheld25", "Invoice 25 (paid in full)", "Invoice 25", "possible_edit",
                                                 "Release as a new booking", "Merge into the candidate"])
        screen(driver, "refused", "/console/refused", ["amount must not be zero", "LR-4711", "transactionAmount.amount", "12,5O", "Send again"])
        screen(driver, "consents", "/console/consents", ["Consents, soonest expiry first", "acme-<script>", "bravo", "banksync link --customer",
                                                         "none of 4 left today", "next call allowed at",
                                                         "https://ob.gocardless.example/psd2/start/req-acme-2/SANDBOXFINANCE_SFIN0000", "open until"])
        screen(driver, "audit", "/console/audit", ["Audit log"])
        viewport(driver, 1280, 800)
        for name, path, link_text in [("customers", "/console/customers?limit=1", "Next page"), ("held rows", "/console/held?limit=1", "Next held rows"),
                                      ("interruptions", "/console?limit=1", "More interruptions")]:
            driver.get(CONSOLE + path)
            first_page = driver.find_element(By.CSS_SELECTOR, "main table, main section.held").text
            links = driver.find_elements(By.LINK_TEXT, link_text)
            check(len(links) == 1, f"{name}: one row a page has a {link_text!r} link")
            if links:
                links[0].click()
                WebDriverWait(driver, 30).until(lambda d: "after=" in d.current_url and d.execute_script("return document.readyState") == "complete")
                second_page = driver.find_element(By.CSS_SELECTOR, "main table, main section.held").text
                continued = name == "held rows" or "(continued)" in driver.find_element(By.TAG_NAME, "body").text
                check(second_page != first_page and continued, f"{name}: the second page exists and differs from the first")
                check(not console_errors(driver), f"{name}: no console errors on the second page")
        check("<script>" not in driver.page_source.replace("<script src=\"/console/assets/console.js\" defer=\"\"></script>", ""),
              "merchant text is escaped, never markup")

        print("actions (approver, by pointer)")
        viewport(driver, 1280, 800)
        driver.get(f"{CONSOLE}/console/customers/{ACME}")
        text = submit_action(driver, "sync-now", ACME)
        check("sync asked" in text and "Next read allowed: now" in text and f"banksync sync --customer {ACME}" in text,
              "sync now: done, next allowed (now: no limit in force), the CLI command")
        driver.get(f"{CONSOLE}/console/customers/{BRAVO}")
        text = submit_action(driver, "sync-now", BRAVO)
        check("Next read allowed at" in text and "4 reads a day and none is left today" in text,
              "sync now of a Berlin Group customer whose reads are spent: next allowed at tomorrow, and why")
        driver.get(f"{CONSOLE}/console/customers/{FIO}")
        text = submit_action(driver, "sync-now", FIO)
        check("Next read allowed at" in text and "Fio allows one call per token every 30 s" in text, "sync now of a Fio customer: its token's next call")
        inspect_current(driver, "action-result-1280x800")
        driver.get(f"{CONSOLE}/console/customers/{ACME}")
        text = submit_action(driver, "create-link", ACME, confirm=True)
        new_link = re.search(r"The new renewal link: (\S+)", text)
        check("renewal link created" in text and new_link is not None and new_link.group(1).startswith(os.environ["GOCARDLESS_URL"])
              and f"banksync link --customer {ACME} --source gocardless --institution SANDBOXFINANCE_SFIN0000" in text,
              "create renewal link: the sandbox's new link and the CLI command shown")
        inspect_current(driver, "action-result-create-link")
        rows = sql(f"SELECT source_ref, outcome FROM consent_links WHERE flowpay_customer_id = '{ACME}' ORDER BY id")
        check(len(rows) == 2 and rows[0][1] == "superseded" and rows[1][1] == "", f"the old link ended, the new one is open: {rows}")
        screen(driver, "consents-after-link", "/console/consents", [new_link.group(1) if new_link else "(no link)", "open until"])
        check("req-acme-2/SANDBOXFINANCE" not in driver.find_element(By.TAG_NAME, "body").text, "the old link is no longer shown")
        viewport(driver, 1280, 800)
        driver.get(f"{CONSOLE}/console/accounts/{account}/reconciliation")
        text = submit_action(driver, "acknowledge-difference", account, reason="bank confirmed a fee booked on the 20th")
        check("acknowledged" in text and f"banksync reconciliation acknowledge --account {account} --reason" in text,
              "acknowledge difference: done, the CLI command shown")
        driver.get(f"{CONSOLE}/console/accounts/{account}/reconciliation")
        form = driver.find_element(By.CSS_SELECTOR, 'form[action="/console/actions/deep-read"]')
        check(form.find_element(By.NAME, "from").get_attribute("value") == "2026-11-19"
              and form.find_element(By.NAME, "to").get_attribute("value") == "2026-11-20", "deep read proposes the difference's range (from the day before)")
        # A backwards range is refused (to before from), with the reason.
        driver.execute_script("arguments[0].value = '2026-11-10'", form.find_element(By.NAME, "to"))
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        text = result_text(driver, "deep-read")
        check("failed" in text and "the range must run forward" in text, "deep read: a backwards range is refused, saying why")
        driver.get(f"{CONSOLE}/console/accounts/{account}/reconciliation")
        driver.find_element(By.CSS_SELECTOR, 'form[action="/console/actions/deep-read"] button[type=submit]').click()
        text = result_text(driver, "deep-read")
        check("deep read of account" in text and "from 2026-11-19 to 2026-11-20" in text and f"banksync sync --customer {ACME} --rescan-days" in text,
              "deep read: asked over the range, with the CLI command")
        check(sql(f"SELECT deep_read_from::text, deep_read_to::text FROM watermarks WHERE account_id = {account}")[0] == ["2026-11-19", "2026-11-20"],
              "deep read's range is recorded on the watermark")
        driver.get(f"{CONSOLE}/console/refused")
        text = submit_action(driver, "retry-refused", batch)
        check("1 row(s) queued again" in text and f"banksync push --requeue-rejected --batch {batch}" in text, "retry refused: requeued, CLI shown")
        driver.get(f"{CONSOLE}/console/held")
        text = submit_action(driver, "merge-held", "bs_acmeheld26", reason="same invoice, the bank added the company form")
        check("merged" in text and "banksync held merge bs_acmeheld26" in text, "merge held row: done")
        driver.get(f"{CONSOLE}/console/customers/{ACME}")
        text = submit_action(driver, "pause-customer", ACME, reason="customer closing the account", confirm=True)
        check("customer paused" in text and f"banksync customers pause {ACME} --reason" in text, "pause customer: done, the CLI command shown")
        check(sql(f"SELECT paused_at IS NOT NULL FROM customers WHERE flowpay_customer_id = '{ACME}'")[0][0] == "t", "pause is stored")
        driver.get(f"{CONSOLE}/console/customers")
        check("paused" in driver.find_element(By.TAG_NAME, "body").text, "a paused customer shows as paused in the customers list")
        driver.get(f"{CONSOLE}/console/customers/{ACME}")
        text = submit_action(driver, "resume-customer", ACME, reason="account stays open after all")
        check("customer resumed" in text and f"banksync customers resume {ACME} --reason" in text, "resume customer: done, the CLI command shown")
        screen(driver, "audit-after-actions", "/console/audit", ["sync-now", "create-link", "acknowledge-difference", "deep-read", "retry-refused", "merge-held",
                                                                 "pause-customer", "resume-customer"])
    finally:
        driver.quit()

    print("keyboard-only action (operator releases a held row)")
    driver = browser("olga", "banksync-operator")
    try:
        viewport(driver, 1280, 800)
        driver.get(f"{CONSOLE}/console/held")
        check(not driver.find_elements(By.CSS_SELECTOR, 'form[action="/console/actions/merge-held"]'), "an operator sees no merge (approver only)")
        target = driver.find_element(By.CSS_SELECTOR, 'form[action="/console/actions/release-held"]:has(input[value="bs_acmeheld25"]) input[name=reason]')
        actions = webdriver.ActionChains(driver)
        found = False
        for _ in range(200):
            actions.send_keys(Keys.TAB).perform()
            if driver.switch_to.active_element == target:
                found = True
                break
        check(found, "Tab reaches the reason field")
        first = driver.switch_to.active_element
        check(driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", first) != "none", "the focused field shows its focus")
        webdriver.ActionChains(driver).send_keys("looked at the statement: a second payment").send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        check(focused.tag_name == "button" and focused.text == "Release as a new booking", "Tab moves to the release button")
        webdriver.ActionChains(driver).send_keys(Keys.ENTER).perform()
        text = result_text(driver, "release-held")
        check("held booking bs_acmeheld25 released" in text and "banksync held release bs_acmeheld25" in text, "released by keyboard, CLI shown")
        check(not console_errors(driver), "no console errors during the keyboard action")
    finally:
        driver.quit()

    print("break-glass sign-in (no proxy headers)")
    driver = browser()
    try:
        viewport(driver, 1280, 800)
        driver.get(f"{CONSOLE}/console")
        check(driver.current_url.endswith("/console/sign-in"), "unsigned GET is sent to the sign-in form")
        screen(driver, "sign-in", "/console/sign-in", ["Console API key"])
        driver.find_element(By.ID, "key").send_keys(KEY)
        driver.find_element(By.ID, "key").send_keys(Keys.ENTER)
        WebDriverWait(driver, 30).until(lambda d: not d.current_url.endswith("/sign-in")
                                        and d.execute_script("return document.readyState") == "complete")
        text = driver.find_element(By.TAG_NAME, "body").text
        check("Needs attention" in text and "break-glass@" in text, "the key signs in (a session)")
        cookies = {c["name"]: c for c in driver.get_cookies()}
        cookie = cookies.get("banksync_console", {})
        check(cookie.get("httpOnly") and cookie.get("secure") and cookie.get("sameSite") == "Strict", f"session cookie HttpOnly, Secure, SameSite=Strict: {cookie}")
        check(sql("SELECT count(*) FROM console_sessions")[0][0] != "0", "the session is a database row (hashed)")
    finally:
        driver.quit()

    print("viewer")
    driver = browser("victor", "banksync-viewer")
    try:
        for path in ["/console", f"/console/customers/{ACME}", "/console/held", "/console/refused", f"/console/accounts/{account}/reconciliation"]:
            driver.get(CONSOLE + path)
            check(not driver.find_elements(By.CSS_SELECTOR, 'form[action^="/console/actions/"]'), f"viewer sees no action on {path}")
        # The page's CSP forbids fetch (connect-src falls back to 'none'), so the forgery is a form the viewer's own
        # page posts: same-origin, as a browser extension or a pasted snippet could make it.
        driver.execute_script("""
            var form = document.createElement('form');
            form.method = 'post';
            form.action = '/console/actions/sync-now';
            [['customer', arguments[0]], ['form_token', 'forged']].forEach(function (pair) {
              var input = document.createElement('input');
              input.type = 'hidden'; input.name = pair[0]; input.value = pair[1];
              form.appendChild(input);
            });
            document.body.appendChild(form);
            form.submit();
        """, ACME)
        WebDriverWait(driver, 30).until(lambda d: "/console/actions/sync-now" in d.current_url
                                        and d.execute_script("return document.readyState") == "complete")
        check(driver.title.startswith("403"), f"a forged same-origin POST from the viewer's page gets 403 (page {driver.title!r})")
    finally:
        driver.quit()
    viewer = {"X-Forwarded-User": "victor", "X-Forwarded-Groups": "banksync-viewer", "Origin": CONSOLE}
    code, _, _ = post(f"{CONSOLE}/console/actions/pause-customer", {"customer": ACME, "reason": "x", "confirm": "yes", "form_token": "x"}, viewer)
    check(code == 403, f"a forged viewer POST (curl-like) gets 403 (got {code})")

    print("request safety")
    approver = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "banksync-approver"}
    _, page, _ = get(f"{CONSOLE}/console/customers/{ACME}", approver)
    token = form_token(page)
    check(token is not None, "the approver's page carries a form token")
    code, _, _ = post(f"{CONSOLE}/console/actions/sync-now", {"customer": ACME, "form_token": token}, approver)
    check(code == 403, f"POST without Origin gets 403 (got {code})")
    code, _, _ = post(f"{CONSOLE}/console/actions/sync-now", {"customer": ACME, "form_token": token}, {**approver, "Origin": "http://evil.example"})
    check(code == 403, f"POST from another origin gets 403 (got {code})")
    code, _, _ = post(f"{CONSOLE}/console/actions/sync-now", {"customer": ACME, "form_token": token},
                      {**approver, "Origin": CONSOLE, "Sec-Fetch-Site": "cross-site"})
    check(code == 403, f"POST with Sec-Fetch-Site cross-site gets 403 (got {code})")
    code, _, _ = post(f"{CONSOLE}/console/actions/sync-now", {"customer": ACME}, {**approver, "Origin": CONSOLE})
    check(code == 403, f"POST without the form token gets 403 (got {code})")
    code, _, _ = post(f"{CONSOLE}/console/actions/sync-now", {"customer": ACME, "form_token": token}, {**approver, "Origin": CONSOLE})
    check(code == 200, f"the same POST, same-origin with its token, is done (got {code})")
    code, _, headers = get(f"{CONSOLE}/console", {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "staff"})
    check(code == 303 and headers.get("Location", "").endswith("/console/sign-in"), f"a proxy user without a console group is not let in (got {code})")
    request = urllib.request.Request(f"{CONSOLE}/console/customers", headers=approver, method="HEAD")
    with OPENER.open(request) as response:
        head_code, head_body, head_csp = response.status, response.read(), response.headers.get("Content-Security-Policy", "")
    check(head_code == 200 and head_body == b"" and "default-src 'none'" in head_csp, f"HEAD on a page answers like GET without a body (got {head_code})")
    sql("INSERT INTO console_sessions (token_hash, who, role, form_token, expires_at) VALUES ('\\xdead', 'gone', 'viewer', 't', now() - interval '1 minute')")
    code, _, _ = post(f"{READ_ONLY}/console/sign-in", {"key": KEY}, {"Origin": READ_ONLY})
    check(code == 303 and sql("SELECT count(*) FROM console_sessions WHERE who = 'gone'")[0][0] == "0", "a sign-in deletes expired sessions")
    code, _, headers = get(f"{CONSOLE}/console/nothing-here", approver)
    check(code == 404, f"an unknown console path is 404 (default deny) (got {code})")
    code, _, headers = get(f"{CONSOLE}/console", approver)
    csp = headers.get("Content-Security-Policy", "")
    check("default-src 'none'" in csp and "frame-ancestors 'none'" in csp and headers.get("Referrer-Policy") == "no-referrer"
          and headers.get("Cache-Control") == "no-store" and headers.get("X-Content-Type-Options") == "nosniff", "security headers on a page")
    code, _, headers = get(f"{CONSOLE}/console/nothing-here")
    check("default-src 'none'" in headers.get("Content-Security-Policy", ""), "security headers on a 404 too")
    code, _, _ = get(f"{PUBLIC}/console", approver)
    check(code == 404, f"/console on the public listener is 404 (got {code})")
    code, _, _ = get(f"{PUBLIC}/console/customers", approver)
    check(code == 404, f"/console/customers on the public listener is 404 (got {code})")
    code, csv, _ = get(f"{CONSOLE}/console/customers.csv", approver)
    lag = subprocess.run([os.environ["BANKSYNC_BIN"], "lag", "--format", "csv"], capture_output=True, text=True).stdout
    differ = sorted(set(csv.splitlines()) ^ set(lag.splitlines()))
    check(code == 200 and sorted(csv.splitlines()) == sorted(lag.splitlines()), "customers CSV export equals banksync lag --format csv (as sets of lines)"
          + ("" if not differ else f": lines in one only: {differ}"))
    code, exported, _ = get(f"{CONSOLE}/console/customers.json", approver)
    lag = subprocess.run([os.environ["BANKSYNC_BIN"], "lag", "--format", "json"], capture_output=True, text=True).stdout
    key = lambda row: row["flowpayCustomerId"]
    # The two reports are read a moment apart: the lag in seconds may have moved on by a second or two, nothing else.
    ours, theirs = sorted(json.loads(exported), key=key), sorted(json.loads(lag), key=key)
    same = len(ours) == len(theirs) and all(
        {k: v for k, v in a.items() if k != "lagSeconds"} == {k: v for k, v in b.items() if k != "lagSeconds"}
        and 0 <= b["lagSeconds"] - a["lagSeconds"] <= 5 for a, b in zip(ours, theirs))
    check(code == 200 and same, "customers JSON export equals banksync lag --format json (the lag in seconds read a moment later)")

    code, _, headers = get(f"{READ_ONLY}/console", approver)
    check(code == 303, f"proxy headers from a peer not in BANKSYNC_CONSOLE_TRUSTED_PROXIES name nobody (got {code})")

    print("read-only mode refuses every action")
    code, _, headers = post(f"{READ_ONLY}/console/sign-in", {"key": KEY}, {"Origin": READ_ONLY})
    cookie = headers.get("Set-Cookie", "").split(";")[0]
    check(code == 303 and cookie.startswith("banksync_console="), f"break-glass sign-in on the read-only console (got {code})")
    _, page, _ = get(f"{READ_ONLY}/console/customers/{ACME}", {"Cookie": cookie})
    token = form_token(page)
    check(token is not None and 'action="/console/actions/' not in page, "read-only pages show no action (the sign-out form has the token)")
    targets = {"sync-now": ("customer", ACME), "create-link": ("customer", ACME), "release-held": ("held", "bs_acmeheld25"), "retry-refused": ("batch", batch),
               "acknowledge-difference": ("account", account), "deep-read": ("account", account), "merge-held": ("held", "bs_acmeheld26"), "pause-customer": ("customer", ACME),
               "resume-customer": ("customer", ACME)}
    for action, (field, value) in targets.items():
        code, _, _ = post(f"{READ_ONLY}/console/actions/{action}", {field: value, "reason": "r", "confirm": "yes", "form_token": token},
                          {"Cookie": cookie, "Origin": READ_ONLY})
        check(code == 403, f"read-only refuses {action} with 403 (got {code})")

    print("audit rows")
    done = {row[0]: row for row in sql("SELECT action, who, role, reason, before, after, command FROM console_audit WHERE outcome LIKE 'done%' ORDER BY id")}
    for action, who in [("sync-now", "alice"), ("create-link", "alice"), ("acknowledge-difference", "alice"), ("deep-read", "alice"), ("retry-refused", "alice"), ("merge-held", "alice"),
                        ("pause-customer", "alice"), ("resume-customer", "alice"), ("release-held", "olga")]:
        row = done.get(action)
        check(row is not None and row[1] == who and row[6] != "", f"audit row for {action}: who {who}, role, command" + ("" if row else " (missing)"))
    check(done["release-held"][3] == "looked at the statement: a second payment", "the release's reason is in its audit row")
    check(done["pause-customer"][4] == "not paused" and done["pause-customer"][5].startswith("paused"), "the pause's before/after are in its audit row")
    refused = sql("SELECT action, who, role, outcome FROM console_audit WHERE outcome LIKE 'refused%'")
    check(any(r[1] == "victor" and r[2] == "viewer" for r in refused), "the forged viewer POST is in the audit log, refused")
    check(sum(1 for r in refused if "read-only" in r[3]) == len(targets), "every read-only refusal is in the audit log")
    events = sql(f"SELECT code FROM sync_events e JOIN customers c ON c.id = e.customer_id WHERE c.flowpay_customer_id = '{ACME}'")
    codes = {row[0] for row in events}
    check(done["create-link"][4].startswith("open link req-acme-2") and "older link(s) ended" in done["create-link"][5]
          and "http" not in done["create-link"][5], "the link's before/after are in its audit row (the link itself is not)")
    check({"sync_requested", "renewal_link_created", "deep_read_requested", "customer_paused", "customer_resumed", "hold_decided", "difference_acknowledged"} <= codes,
          "the actions are on the customer's timeline")

    print()
    if failures:
        print(f"console test: {len(failures)} check(s) failed:")
        for failure in failures:
            print("  - " + failure)
        sys.exit(1)
    print("console test: all checks passed")


if __name__ == "__main__":
    main()
