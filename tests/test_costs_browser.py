"""In a real browser: the lead's cost dashboard draws its charts, the month picker and the
table pagination swap parts of the page with htmx, and the CSV link downloads."""

import datetime

import pytest

from costs import periods
from costs.ingest import upsert_daily
from portal.days import utc_month_start

from . import test_costs_support as support
from .browser import signed_in_page
from .test_costs_support import make_key, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
costs_org = support.costs_org


@pytest.fixture(scope="module", autouse=True)
def sync_db_with_playwright():
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here (and the
    # test database flush after them) are plain synchronous test code, not request handling.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


def test_lead_dashboard_in_the_browser(costs_org, live_server, browser, tmp_path):
    this_month = utc_month_start()
    last_month = periods.add_months(this_month, -1)
    rows = [row(day=last_month + datetime.timedelta(days=4), key="hash-a1", spend="30")]
    for i in range(14):
        make_key(costs_org["dev_a"], costs_org["a"], f"hash-br-{i}", name=f"bot-{i}")
        rows.append(row(day=this_month, key=f"hash-br-{i}", spend=f"{i + 1}.00"))
    upsert_daily(rows)

    page = signed_in_page(browser, live_server, costs_org["lead_a"])
    page.goto(f"{live_server.url}/costs/departments/alpha/")
    assert page.inner_text("#kpi-actual") == "USD 105.00"
    page.wait_for_function("Chart.getChart('chart-trend') && Chart.getChart('chart-daily')")
    bars = page.evaluate("Chart.getChart('chart-trend').data.datasets[0].data")
    assert bars[-1] == 105 and bars[-2] == 30
    page.screenshot(path=str(tmp_path / "department.png"), full_page=True)

    # The keys table pages with htmx: only the table is replaced.
    keys = page.locator("#table-keys")
    assert "Page 1 of 2" in keys.inner_text()
    keys.get_by_role("link", name="Next").click()
    page.wait_for_function("document.querySelector('#table-keys').innerText.includes('Page 2')")
    assert page.inner_text("#kpi-actual") == "USD 105.00"

    # The month picker swaps the body with htmx and the charts are drawn again.
    page.get_by_role("link", name=f"← {last_month:%Y-%m}").click()
    page.wait_for_function("document.querySelector('#kpi-actual').innerText === 'USD 30.00'")
    assert page.url.endswith(f"?month={last_month:%Y-%m}")
    page.wait_for_function("Chart.getChart('chart-daily')?.data.datasets[0].data.at(-1) === 30")

    with page.expect_download() as download:
        page.locator("#table-members a[data-csv]").click()
    assert download.value.suggested_filename == f"alpha-members-{last_month:%Y-%m}.csv"
