// Comity dashboard: progressive enhancement of <time> elements. The server
// renders every time in the reader's language, with the exact instant in UTC
// as the element's title; here, when scripts run, that title becomes the
// instant in the reader's own time zone. Pages work the same without it.
(function () {
  "use strict";
  if (typeof Intl === "undefined" || !Intl.DateTimeFormat) {
    return;
  }
  var format;
  try {
    format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      dateStyle: "long",
      timeStyle: "long",
    });
  } catch (e) {
    return;
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var at = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(at.getTime())) {
      times[i].setAttribute("title", format.format(at));
      times[i].setAttribute("data-local", "");
    }
  }
})();
