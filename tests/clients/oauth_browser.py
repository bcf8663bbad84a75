"""A person signing in, played by headless Chromium (Selenium): opens the authorization URL
a client printed, fills oidc-provider's development sign-in page (any login) and its
consent page, and waits until the browser lands on the client's loopback redirect.

    python oauth_browser.py AUTHORIZATION_URL [LOGIN]
    python oauth_browser.py --dashboard BATON_BASE [LOGIN]

The redirect is the URL's own `redirect_uri`. Exits 0 once the browser reached it
(printing the page's text), 1 otherwise. With --dashboard, the browser starts at Baton's
/ui/login, clicks "Sign in with the authorization server", signs in, and once back on the
dashboard prints what /api/session says.
"""

import sys
import time
from urllib.parse import parse_qs, urlparse

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,800"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    dashboard = sys.argv[1] == "--dashboard"
    args = sys.argv[2:] if dashboard else sys.argv[1:]
    url, login = args[0], (args[1] if len(args) > 1 else "alice")
    driver = browser()
    try:
        if dashboard:
            base = url.rstrip("/")
            driver.get(base + "/ui/login")
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "sign-in-oauth"))
            driver.find_element(By.ID, "sign-in-oauth").click()
        else:
            redirect = parse_qs(urlparse(url).query)["redirect_uri"][0]
            driver.get(url)
        deadline = time.time() + 60
        while time.time() < deadline:
            current = driver.current_url
            if dashboard and current.startswith(base + "/ui") and "/ui/login" not in current:
                driver.get(base + "/api/session")
                print(driver.find_element(By.TAG_NAME, "body").text)
                return 0
            if not dashboard and current.startswith(redirect):
                print(driver.find_element(By.TAG_NAME, "body").text)
                return 0
            try:
                fields = driver.find_elements(By.NAME, "login")
                if fields:
                    fields[0].clear()
                    fields[0].send_keys(login)
                    password = driver.find_elements(By.NAME, "password")
                    if password:
                        password[0].send_keys("any-password")
                    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
                else:
                    buttons = driver.find_elements(By.CSS_SELECTOR, "button[type=submit]")
                    if buttons:
                        buttons[0].click()
            except WebDriverException:
                pass  # the page changed under us: look again
            time.sleep(0.3)
        print(f"never reached {redirect}; last page {driver.current_url}:\n"
              f"{driver.find_element(By.TAG_NAME, 'body').text[:2000]}", file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
