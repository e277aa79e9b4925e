"""The search page in a real headless browser (Selenium + Debian's chromium/chromedriver): upload a
test photo, wait for the results, find the true recipe's title; a screenshot is kept in tmp_path."""
from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from service_support import photo_owners, photos_of, service_index, shared_retriever, titles  # noqa: F401

from seje_sdk.catalog import read_catalog
from seje_sdk.service import ServiceConfig
from seje_sdk.service.server import ServiceThread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
K = 10


def browser(width: int = 1100, height: int = 900):
    """Headless chromium through chromedriver, both from the system (scripts/setup.sh installs them with apt)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"no browser here: chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}) missing; "
                    "install them with `apt-get install chromium chromium-driver`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@contextmanager
def search_page(bundle: Path, index: Path, retriever, form: str, k: int, fill):
    """Open the page on a test server, `fill(driver)` the form, set its Top k, submit, wait for hit rows; yields the driver."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    config = ServiceConfig(str(bundle), str(index))
    with ServiceThread(config, loader=lambda cfg: (retriever, read_catalog(cfg.index)), owns_retriever=False) as svc:
        driver = browser()
        try:
            driver.get(svc.url + "/")
            assert "seje" in driver.title
            fill(driver)
            box = driver.find_element(By.ID, f"k-{form}")
            box.clear()
            box.send_keys(str(k))
            driver.find_element(By.ID, f"search-{form}").click()
            WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results tr.hit")))
            yield driver
        finally:
            driver.quit()


def findable_photo(retriever, data: Path) -> tuple[Path, str]:
    """A test photo whose own recipe the SDK ranks in the top K (the page must then show it), and that recipe's id."""
    owners = photo_owners(data)
    for photo in photos_of(data):
        owner = owners[photo.name]
        if owner in [i for i, _ in retriever.search(images=[photo], k=K)[0]]:
            return photo, owner
    pytest.fail(f"the tiny model ranks no test photo's own recipe in its top {K}")


def test_page_finds_the_true_recipe_in_a_real_browser(tiny_bundle, tiny_data, service_index, shared_retriever, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo, owner = findable_photo(shared_retriever, tiny_data)
    with search_page(tiny_bundle, service_index, shared_retriever, "photo", K,
                     lambda d: d.find_element(By.ID, "photo").send_keys(str(photo))) as driver:
        rows = driver.find_elements(By.CSS_SELECTOR, "#results tr.hit")
        shown = [(r.find_element(By.CLASS_NAME, "id").text, r.find_element(By.CLASS_NAME, "title").text) for r in rows]
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)"))
        driver.save_screenshot(str(tmp_path / "search_page.png"))
    assert len(shown) == K
    assert (owner, titles(tiny_data)[owner]) in shown  # the true recipe, by id and title
    assert (tmp_path / "search_page.png").stat().st_size > 1000
    print(f"screenshot: {tmp_path / 'search_page.png'}")


def findable_title(retriever, data: Path) -> tuple[str, str]:
    """A test recipe whose title alone, typed as text, ranks one of its photos in the top K; (title, photo id)."""
    owners = photo_owners(data)
    names = titles(data)
    for photo in photos_of(data):
        owner = owners[photo.name]
        hits = [i for i, _ in retriever.search(text=names[owner], k=K)[0]]
        found = [i for i in hits if Path(str(i)).name in {p for p, o in owners.items() if o == owner}]
        if found:
            return names[owner], str(found[0])
    pytest.fail(f"the tiny model ranks no test recipe's photo in its top {K} for the recipe's title")


def test_text_box_finds_the_photo_and_names_unknown_words(tiny_bundle, tiny_data, service_index, shared_retriever, tmp_path):
    from selenium.webdriver.common.by import By

    from typo_support import misspelt

    title, photo_id = findable_title(shared_retriever, tiny_data)
    typed, typo, word = misspelt(title, shared_retriever.tables.vocab)
    with search_page(tiny_bundle, service_index, shared_retriever, "text", K,
                     lambda d: d.find_element(By.ID, "text-query").send_keys(f"{typed} zzqxv")) as driver:
        shown = [r.find_element(By.CLASS_NAME, "id").text for r in driver.find_elements(By.CSS_SELECTOR, "#results tr.hit")]
        status = driver.find_element(By.ID, "status").text
        driver.save_screenshot(str(tmp_path / "text_search.png"))
    assert len(shown) == K and photo_id in shown
    assert "not in the model's vocabulary: zzqxv" in status and f"read as: {typo} -> {word}" in status


def test_page_rejected_upload_shows_no_broken_photo_and_photo_hits_carry_recipe_titles(
        tiny_bundle, tiny_data, service_index, shared_retriever, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    fake = tmp_path / "not-a-photo.jpg"
    fake.write_bytes(b"this is text, not a JPEG")
    recipe = json.loads((tiny_data / "layer1.json").read_text())[0]
    config = ServiceConfig(str(tiny_bundle), str(service_index), live_dir=str(tmp_path / "live"))
    with ServiceThread(config, loader=lambda cfg: (shared_retriever, read_catalog(cfg.index)), owns_retriever=False) as svc:
        driver = browser()
        try:
            driver.get(svc.url + "/")
            driver.find_element(By.ID, "photo").send_keys(str(fake))
            driver.find_element(By.ID, "search-photo").click()
            WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.ID, "status"), "422"))
            broken = driver.execute_script(
                "return [...document.querySelectorAll('img')].filter(i => i.offsetParent !== null"
                " && (!i.complete || i.naturalWidth === 0)).length")
            assert broken == 0  # no broken-image placeholder anywhere on the page
            assert not driver.find_element(By.ID, "query-preview").is_displayed()

            driver.find_element(By.ID, "recipe-title").send_keys(recipe["title"])
            driver.find_element(By.ID, "recipe-instructions").send_keys("\n".join(x["text"] for x in recipe["instructions"]))
            driver.find_element(By.ID, "search-recipe").click()
            WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results tr.hit")))
            rows = driver.find_elements(By.CSS_SELECTOR, "#results tr.hit")
            shown = [(r.find_element(By.CLASS_NAME, "id").text, r.find_element(By.CLASS_NAME, "title").text) for r in rows]
        finally:
            driver.quit()
    owners, names = photo_owners(tiny_data), titles(tiny_data)
    assert shown and all(title == names[owners[pid]] for pid, title in shown)  # the photo's recipe, not its file name
    assert all("/" not in pid and not pid.startswith(str(tiny_data)) for pid, _ in shown)  # ids, not server paths
