/// The console's one stylesheet and one small script, served from the console itself (the CSP allows only
/// 'self'). The script only adds copy buttons and refreshes relative times: every page works without it.
enum ConsoleAssets {
    static let css = """
        :root { color-scheme: light; --ink: #1b1b1b; --muted: #4a4a4a; --line: #c8c8c8; --accent: #123c8c; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: #fff; }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus, summary:focus, [tabindex]:focus { outline: 3px solid #e07b00; outline-offset: 2px; }
        .skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: .5rem 1rem; }
        .skip:focus { left: .5rem; z-index: 10; }
        header { border-bottom: 1px solid var(--line); padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
        .brand { font-weight: 700; margin: 0; }
        nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
        .who { margin-left: auto; display: flex; gap: .75rem; align-items: center; color: var(--muted); }
        .who p { margin: 0; }
        main { padding: 0 1rem 2rem; max-width: 1400px; }
        main:focus { outline: none; }
        h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.75rem; }
        .scroll { overflow-x: auto; max-width: 100%; }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
        caption { text-align: left; font-weight: 600; padding: .25rem 0; }
        th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
        thead th { background: #eef1f6; }
        tbody th { font-weight: 600; }
        .status { font-weight: 700; padding: 0 .3rem; border-radius: 3px; border: 1px solid currentColor; white-space: nowrap; }
        .status.good { color: #1a5e1a; } .status.bad { color: #a11212; } .status.neutral { color: #4a4a4a; }
        .rel { color: var(--muted); white-space: nowrap; }
        time { white-space: nowrap; }
        code { font-family: ui-monospace, monospace; background: #f3f3f3; padding: 0 .2rem; overflow-wrap: anywhere; }
        .copy-button { margin-left: .3rem; font-size: .8rem; }
        form.action { display: inline-flex; flex-wrap: wrap; gap: .3rem .5rem; align-items: center; margin: .25rem .5rem .25rem 0;
                      padding: .4rem; border: 1px solid var(--line); border-radius: 4px; }
        form.filters, form.sign-in { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; margin: .75rem 0; }
        button { font: inherit; padding: .25rem .7rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 3px; cursor: pointer; }
        .who button { background: #fff; color: var(--accent); }
        input, select { font: inherit; padding: .2rem .35rem; border: 1px solid #767676; border-radius: 3px; }
        .message { font-weight: 600; }
        svg.chart { width: 100%; max-width: 720px; height: auto; border: 1px solid var(--line); }
        figure { margin: 1rem 0; }
        .key.bank { color: #123c8c; font-weight: 700; } .key.implied { color: #8a4700; font-weight: 700; }
        section.held { border-top: 1px solid var(--line); }
        .pager a { margin-right: 1rem; }
        @media (max-width: 600px) { .who { margin-left: 0; } body { font-size: 14px; } }
        """

    static let js = """
        "use strict";
        // Progressive enhancement only: copy buttons beside copyable text, and relative times kept current.
        (function () {
          function relative(iso) {
            var seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
            var m = Math.abs(seconds), words;
            if (m < 60) words = m + " s"; else if (m < 7200) words = Math.floor(m / 60) + " min";
            else if (m < 172800) words = Math.floor(m / 3600) + " h"; else words = Math.floor(m / 86400) + " days";
            return seconds < 0 ? "(" + words + " ago)" : "(in " + words + ")";
          }
          function refresh() {
            document.querySelectorAll("[data-rel]").forEach(function (el) { el.textContent = relative(el.getAttribute("data-rel")); });
          }
          document.addEventListener("DOMContentLoaded", function () {
            if (navigator.clipboard) {
              document.querySelectorAll("code.copy").forEach(function (code) {
                var button = document.createElement("button");
                button.type = "button";
                button.className = "copy-button";
                button.textContent = "Copy";
                button.setAttribute("aria-label", "Copy " + code.textContent);
                button.addEventListener("click", function () {
                  navigator.clipboard.writeText(code.textContent).then(function () { button.textContent = "Copied"; }, function () {});
                });
                code.insertAdjacentElement("afterend", button);
              });
            }
            refresh();
            setInterval(refresh, 30000);
          });
        })();
        """
}
