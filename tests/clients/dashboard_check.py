"""Drives Baton's dashboard in headless Chromium (Selenium + Debian's chromium-driver).

usage: dashboard_check.py BASE_URL ADMIN_KEY VIEWER_KEY AXE_JS SCREENSHOT_DIR

Prints one line per scenario, `PASS name` or `FAIL name: why`, and exits non-zero when
any failed. Every wait is bounded (WAIT seconds) and polls the page; nothing sleeps and
hopes. Screenshots of each page at 1280 and 390 px go to SCREENSHOT_DIR.
"""

import json
import os
import sys
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

BASE, ADMIN_KEY, VIEWER_KEY, AXE_JS, SHOTS = sys.argv[1:6]
WAIT = 30
RESULTS = []


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def scenario(name):
    def wrap(fn):
        def run(driver):
            try:
                fn(driver)
                RESULTS.append((name, None))
                print(f"PASS {name}", flush=True)
            except Exception as error:  # noqa: BLE001 - every failure is reported by name
                detail = f"{type(error).__name__}: {error}".replace("\n", " ")[:600]
                RESULTS.append((name, detail))
                print(f"FAIL {name}: {detail}", flush=True)
                traceback.print_exc(file=sys.stderr)
                shot(driver, f"FAILED-{name}")
        return run
    return wrap


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def until(driver, what, check):
    """Polls `check` until it is truthy; the live pages redraw, so an element found a moment
    ago may be gone (stale) by the time it is read: that poll just counts as not yet."""
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.1,
                         ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])
    try:
        return wait.until(lambda d: check(d))
    except TimeoutException as error:
        raise AssertionError(f"timed out waiting for {what} on {driver.current_url}") from error


def text_of(driver):
    return driver.find_element(By.ID, "main").text


def sign_in(driver, key):
    driver.get(BASE + "/ui/login")
    field = until(driver, "the sign-in field", lambda d: d.find_element(By.ID, "credential"))
    field.send_keys(key)
    field.send_keys(Keys.ENTER)
    until(driver, "the overview after signing in", lambda d: d.current_url.rstrip("/").endswith("/ui") and "Servers" in text_of(d))


def server_row(driver, name):
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-server="{name}"]')
    return rows[0].text if rows else None


def api(driver, path, method="GET", body=None):
    """Calls the API from the page (with its cookie and CSRF token)."""
    script = """
      const [path, method, body, done] = arguments;
      const csrf = (document.cookie.split('; ').find(c => c.startsWith('baton_csrf=')) || '').split('=')[1];
      fetch(path, {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf || ''},
                   body: body === null ? undefined : JSON.stringify(body)})
        .then(r => r.json().then(j => done({status: r.status, body: j})))
        .catch(e => done({status: 0, body: String(e)}));
    """
    return driver.execute_async_script(script, path, method, body)


def start_run(driver, workflow):
    driver.get(BASE + "/ui/workflows/" + workflow)
    button = until(driver, "the start button", lambda d: d.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]"))
    button.click()
    until(driver, "the run page", lambda d: "/ui/runs/" in d.current_url and d.find_elements(By.CSS_SELECTOR, "svg.dag .node"))
    # A marker that a reload would erase.
    driver.execute_script("window.__noReload = 'still here';")
    return driver.current_url.rsplit("/", 1)[1]


def node_state(driver, step):
    # Read in one script: the graph is redrawn as the run moves on.
    return driver.execute_script(
        "const n = document.querySelector(`svg.dag .node[data-step='${arguments[0]}']`); return n ? n.dataset.state : null;", step)


def run_status(driver):
    return driver.execute_script("const s = document.getElementById('run-status'); return s ? s.textContent : '';")


@scenario("overview_shows_ready_and_failed_servers")
def overview(driver):
    sign_in(driver, ADMIN_KEY)
    until(driver, "everything ready", lambda d: "ready" in (server_row(d, "everything") or ""))
    # A stdio server that exits at once: its supervisor waits to restart it (10 min here),
    # and the row shows that state, the exit and the stderr tail.
    until(driver, "broken down", lambda d: "restarting" in (server_row(d, "broken") or ""))
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-server="broken"]')
    assert "exit" in row.text, f"the exit is not shown: {row.text!r}"
    row.find_element(By.TAG_NAME, "summary").click()
    until(driver, "the stderr tail", lambda d: "broken-server-says-goodbye" in d.find_element(By.CSS_SELECTOR, 'tr[data-server="broken"] pre').text)


@scenario("console_calls_get_sum_and_shows_42")
def console(driver):
    driver.get(BASE + "/ui/tools?tool=everything__get-sum")
    a = until(driver, "the form", lambda d: d.find_element(By.XPATH, "//label[starts-with(normalize-space(.), 'a')]/following-sibling::input"))
    b = driver.find_element(By.XPATH, "//label[starts-with(normalize-space(.), 'b')]/following-sibling::input")
    a.send_keys("20")
    b.send_keys("22")
    driver.find_element(By.ID, "call").click()
    result = until(driver, "the answer", lambda d: d.find_element(By.ID, "result").text if "Done" in d.find_element(By.ID, "result").text else None)
    assert "42" in result, result
    assert " ms" in result, f"no duration: {result!r}"


@scenario("dag_goes_live_without_reload")
def live_dag(driver):
    run = start_run(driver, "slow")
    seen = set()

    def finished(d):
        seen.add((node_state(d, "pause"), node_state(d, "last")))
        return node_state(d, "last") == "succeeded"

    until(driver, "the last step to succeed", finished)
    assert any(state == "sleeping" for state, _ in seen), f"the sleep step never showed sleeping: {seen}"
    assert driver.execute_script("return window.__noReload") == "still here", "the page was reloaded"
    until(driver, "the run to show succeeded", lambda d: "succeeded" in run_status(d))
    assert run


@scenario("failing_step_shows_its_error")
def failing(driver):
    start_run(driver, "failing")
    until(driver, "the failed node", lambda d: node_state(d, "bad") == "failed")
    driver.find_element(By.CSS_SELECTOR, 'svg.dag .node[data-step="bad"]').click()
    details = until(driver, "the step's error", lambda d: d.find_element(By.CSS_SELECTOR, "section .error"))
    assert details.text.strip(), "an empty error"
    until(driver, "the run to fail", lambda d: "failed" in run_status(d))


@scenario("approval_button_finishes_the_run")
def approval(driver):
    start_run(driver, "gated")
    until(driver, "the approval buttons", lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Approve"])
    [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Approve"][0].click()
    run = driver.current_url.rsplit("/", 1)[1]
    try:
        until(driver, "the run to succeed", lambda d: "succeeded" in run_status(d))
    except AssertionError as error:
        raise AssertionError(f"{error}; the API says {api(driver, '/api/runs/' + run)}") from error
    assert node_state(driver, "after") == "succeeded"


@scenario("cancel_button_cancels")
def cancel(driver):
    start_run(driver, "long")
    until(driver, "the sleeping step", lambda d: node_state(d, "wait") == "sleeping")
    [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Cancel run"][0].click()
    until(driver, "the run to be cancelled", lambda d: "cancelled" in run_status(d))


@scenario("runs_list_filters")
def runs_list(driver):
    driver.get(BASE + "/ui/runs?status=cancelled")
    def workflows(d):
        return [row.find_elements(By.TAG_NAME, "td")[1].text for row in d.find_elements(By.CSS_SELECTOR, "main tbody tr")]
    until(driver, "the cancelled run", lambda d: "long" in workflows(d))
    assert workflows(driver) == ["long"], f"the status filter let other runs through: {workflows(driver)}"


@scenario("pages_fit_1280_and_390_and_pass_axe")
def layouts(driver):
    axe = open(AXE_JS, encoding="utf-8").read()
    problems = []
    pages = ["/ui", "/ui/servers/everything", "/ui/tools?tool=everything__echo", "/ui/runs", "/ui/workflows/slow",
             "/ui/schedules", "/ui/events", "/ui/agent"]
    for width in (1280, 390):
        driver.set_window_size(width, 900)
        for page in pages:
            driver.get(BASE + page)
            until(driver, f"{page} to draw", lambda d: "Loading" not in text_of(d))
            name = page.strip("/").replace("/", "_").replace("?", "_").replace("=", "_") or "overview"
            shot(driver, f"{name}-{width}")
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 1:
                problems.append(f"{page} at {width}px is {overflow}px wider than the window")
            if width == 1280:
                driver.execute_script(axe)
                report = driver.execute_async_script(
                    "const done = arguments[0]; axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0] && v.nodes[0].target}))));"
                )
                for violation in report:
                    problems.append(f"{page}: axe {violation['id']} ({violation['impact']}, {violation['nodes']} nodes, e.g. {violation['target']})")
    driver.set_window_size(1280, 900)
    assert not problems, "; ".join(problems)


@scenario("keyboard_alone_runs_a_tool_and_opens_a_step")
def keyboard(driver):
    driver.get(BASE + "/ui/tools")
    search = until(driver, "the search box", lambda d: d.find_element(By.ID, "tool-search"))
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.text == "Skip to content", f"the first Tab stop is {active.text!r}"
    search.click()
    search.send_keys("everything__echo")
    search.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("data-tool") == "everything__echo", f"Tab after search went to {active.get_attribute('outerHTML')[:120]}"
    active.send_keys(Keys.ENTER)
    field = until(driver, "the echo form", lambda d: d.find_element(By.CSS_SELECTOR, ".tool-panel input[type=text]"))
    assert driver.switch_to.active_element != field
    field.send_keys("typed by keyboard")
    field.send_keys(Keys.ENTER)
    until(driver, "the echo", lambda d: "typed by keyboard" in d.find_element(By.ID, "result").text)
    # A graph node is reached with Tab and opened with Enter.
    driver.get(BASE + "/ui/workflows/slow")
    until(driver, "the graph", lambda d: d.find_elements(By.CSS_SELECTOR, "svg.dag .node"))
    runs = api(driver, "/api/runs?workflow=slow&limit=1")
    run = runs["body"]["runs"][0]["id"]
    driver.get(BASE + "/ui/runs/" + run)
    until(driver, "the graph", lambda d: d.find_elements(By.CSS_SELECTOR, "svg.dag .node"))
    for _ in range(60):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.get_attribute("data-step") == "last":
            break
    else:
        raise AssertionError("Tab never reached the graph's node 'last'")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    until(driver, "the step's details", lambda d: "Step last" in d.find_element(By.ID, "step-title").text)


@scenario("csrf_is_required_for_changes")
def csrf(driver):
    driver.get(BASE + "/ui")
    answer = driver.execute_async_script(
        "const done = arguments[0]; fetch('/api/runs', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({workflow: 'slow'})}).then(r => done(r.status));"
    )
    assert answer == 403, f"a change without the CSRF header got {answer}"


@scenario("viewer_does_not_see_the_server")
def viewer(driver):
    api(driver, "/api/session", "DELETE")
    driver.delete_all_cookies()
    sign_in(driver, VIEWER_KEY)
    until(driver, "the overview", lambda d: "Runs in flight" in text_of(d))
    assert server_row(driver, "everything") is None, "the viewer sees everything"
    assert server_row(driver, "broken") is None, "the viewer sees broken"
    tools = api(driver, "/api/tools")["body"]["tools"]
    assert all(not t["name"].startswith("everything__") for t in tools), [t["name"] for t in tools]
    denied = api(driver, "/api/tools/everything__echo/call", "POST", {"arguments": {"message": "x"}})
    assert denied["status"] == 404, denied
    hidden = api(driver, "/api/servers/everything")
    assert hidden["status"] == 404, hidden


def main():
    driver = browser()
    driver.set_script_timeout(WAIT)
    try:
        for check in [overview, console, live_dag, failing, approval, cancel, runs_list, layouts, keyboard, csrf, viewer]:
            check(driver)
    finally:
        driver.quit()
    failed = [name for name, why in RESULTS if why]
    print(json.dumps({"passed": len(RESULTS) - len(failed), "failed": failed}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
