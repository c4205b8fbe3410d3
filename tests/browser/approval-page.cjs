// Drives the approval page of a signed link in headless Chromium (Debian's package), with
// JavaScript off: the page must work as plain HTML. Visits the link, screenshots it, types a
// comment, clicks the decision's button, screenshots the answer, visits the link again and
// screenshots that. Prints what each visit showed as one JSON object on stdout.
//
// node approval-page.cjs <link> <artifacts dir> <comment>
// Chromium: GREENLIGHT_CHROMIUM, else /usr/bin/chromium. playwright-core from NODE_PATH.
'use strict';

const path = require('node:path');
const { chromium } = require('playwright-core');

async function seen(page, response, shot) {
  await page.screenshot({ path: shot, fullPage: true });
  return {
    status: response ? response.status() : null,
    title: await page.title(),
    text: await page.locator('body').innerText(),
    screenshot: shot,
  };
}

async function main() {
  const [link, dir, comment] = process.argv.slice(2);
  if (!link || !dir || comment === undefined) {
    throw new Error('usage: node approval-page.cjs <link> <artifacts dir> <comment>');
  }
  const browser = await chromium.launch({
    executablePath: process.env.GREENLIGHT_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The machine's network is closed: Chromium's own background connections stay off.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    const visits = [];
    visits.push(await seen(page, await page.goto(link), path.join(dir, '1-approval-page.png')));
    const form = {
      comment: await page.locator('textarea[name=comment]').count(),
      buttons: await page.locator('form button[type=submit]').allInnerTexts(),
    };
    await page.fill('textarea[name=comment]', comment);
    const [answer] = await Promise.all([page.waitForNavigation(), page.click('form button[type=submit]')]);
    visits.push(await seen(page, answer, path.join(dir, '2-decided.png')));
    visits.push(await seen(page, await page.goto(link), path.join(dir, '3-second-visit.png')));
    process.stdout.write(JSON.stringify({ form, visits }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
