/* Clypt's analytics chart in the browser: the one chart definition of clypt_mcp.core.chart
   (its STYLE arrives as JSON), drawn as SVG, plus hover and keyboard read-outs.

   Used twice: the MCP App (clypt_mcp/tools/ui/analytics.html, which inlines this file) draws
   its chart with ClyptChart.draw; the dashboard loads it from /app/static/chart.js to add the
   read-outs to the charts the server drew (svg.chart[data-readout]). Without script, both the
   points' <title> tooltips and the hidden table still give every value. */
(function (root) {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // strftime for %d %b %H %M %Y on the wall-clock time an ISO string carries (as Python does)
  function label(iso, format) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(iso || ""));
    if (!m) return String(iso || "");
    return format.replace(/%([dbHMY])/g, function (_, c) {
      return { d: m[3], b: MONTHS[Number(m[2]) - 1], H: m[4], M: m[5], Y: m[1] }[c];
    });
  }
  function title(interval, timezone) { return "Clicks per " + interval + " (" + timezone + ")"; }
  function legend(which, clicks) { return which + " period (" + clicks + ")"; }
  function tip(p, withPrevious) {
    var text = p.label + ": " + p.clicks + " clicks";
    if (withPrevious && p.previous !== null) text += " (previous period: " + p.previous + ")";
    return text;
  }

  // each bucket of this period beside the previous period's bucket at the same position
  function series(report, style) {
    var format = style.label_formats[report.query.interval] || "%d %b";
    var prev = ((report.previous || {}).timeseries || []).map(function (b) { return b.clicks; });
    return report.timeseries.map(function (b, i) {
      return { label: label(b.t, format), clicks: b.clicks, previous: i < prev.length ? prev[i] : null };
    });
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // the same geometry as clypt_mcp.http.web.chart.svg
  function draw(report, style, options) {
    var S = style;
    var withPrevious = !options || options.previous !== false;
    var pts = series(report, S);
    var left = S.padding[0], right = S.padding[1], topPad = S.padding[2], bottom = S.padding[3];
    var top = 1;
    pts.forEach(function (p) {
      top = Math.max(top, p.clicks, withPrevious && p.previous !== null ? p.previous : 0);
    });
    var innerW = S.width - left - right;
    var innerH = S.height - topPad - bottom;
    var step = innerW / Math.max(1, pts.length - 1);
    function x(i) { return left + (pts.length > 1 ? i * step : innerW / 2); }
    function y(v) { return topPad + innerH - (v / top) * innerH; }
    var baseY = topPad + innerH;
    var q = report.query;
    var svg = svgEl("svg", {
      "class": "chart", viewBox: "0 0 " + S.width + " " + S.height, role: "img",
      "aria-labelledby": "chart-title", preserveAspectRatio: "xMidYMid meet"
    });
    svg.appendChild(svgEl("title", { id: "chart-title" }, title(q.interval, q.timezone)));
    svg.appendChild(svgEl("line", { x1: left, y1: baseY, x2: S.width - right, y2: baseY, stroke: S.rule }));
    svg.appendChild(svgEl("text", { x: left - 6, y: topPad + 10, "text-anchor": "end", fill: S.axis, "class": "axis" }, top));
    svg.appendChild(svgEl("text", { x: left - 6, y: baseY, "text-anchor": "end", fill: S.axis, "class": "axis" }, 0));
    var prevPts = [];
    pts.forEach(function (p, i) {
      if (p.previous !== null) prevPts.push(x(i).toFixed(1) + "," + y(p.previous).toFixed(1));
    });
    if (withPrevious && prevPts.length > 1) {
      var prevLine = svgEl("polyline", {
        "class": "previous", points: prevPts.join(" "), fill: "none", stroke: S.previous,
        "stroke-width": S.previous_width, "stroke-dasharray": S.dash[0] + " " + S.dash[1]
      });
      prevLine.appendChild(svgEl("title", {}, legend("previous", report.previous.clicks)));
      svg.appendChild(prevLine);
    }
    if (pts.length > 1) {
      svg.appendChild(svgEl("polyline", {
        "class": "current", fill: "none", stroke: S.current, "stroke-width": S.current_width,
        points: pts.map(function (p, i) { return x(i).toFixed(1) + "," + y(p.clicks).toFixed(1); }).join(" ")
      }));
    }
    var radius = pts.length <= S.max_markers ? S.marker_radius : S.marker_radius / 2;
    pts.forEach(function (p, i) {
      var circle = svgEl("circle", {
        "class": "point", cx: x(i).toFixed(1), cy: y(p.clicks).toFixed(1), r: radius,
        fill: S.current, "data-clicks": p.clicks
      });
      circle.appendChild(svgEl("title", {}, tip(p, withPrevious)));
      svg.appendChild(circle);
    });
    if (pts.length) {
      (pts.length > 1 ? [0, pts.length - 1] : [0]).forEach(function (i) {
        svg.appendChild(svgEl("text", {
          x: x(i).toFixed(1), y: S.height - 8, "text-anchor": i === 0 ? "start" : "end",
          fill: S.axis, "class": "axis"
        }, pts[i].label));
      });
    }
    return svg;
  }

  // hover and arrow keys move a guide to a point and write its value to `readout`
  function interact(svg, readout) {
    var circles = Array.prototype.slice.call(svg.querySelectorAll("circle.point"));
    if (!circles.length || svg.getAttribute("data-interactive")) return;
    svg.setAttribute("data-interactive", "1");
    var box = svg.viewBox.baseVal;
    var xs = circles.map(function (c) { return Number(c.getAttribute("cx")); });
    var tips = circles.map(function (c) {
      var t = c.querySelector("title");
      return t ? t.textContent : c.getAttribute("data-clicks") + " clicks";
    });
    var guide = svgEl("line", { "class": "guide", x1: 0, x2: 0, y1: 0, y2: box.height, stroke: "currentColor",
      "stroke-opacity": "0.3", "aria-hidden": "true" });
    svg.insertBefore(guide, circles[0]);
    svg.setAttribute("tabindex", "0");
    if (readout && readout.id) svg.setAttribute("aria-describedby", readout.id);
    var title = svg.querySelector("title");
    if (title && title.textContent.indexOf("arrow keys") < 0) {
      title.textContent += "; arrow keys step through the points";
    }
    var current = -1;
    function focus(i) {
      current = Math.max(0, Math.min(circles.length - 1, i));
      circles.forEach(function (c, j) { c.classList.toggle("on", j === current); });
      guide.setAttribute("x1", xs[current]);
      guide.setAttribute("x2", xs[current]);
      svg.classList.add("hovering");
      if (readout) readout.textContent = tips[current];
    }
    svg.addEventListener("pointermove", function (event) {
      var rect = svg.getBoundingClientRect();
      if (!rect.width) return;
      var vx = box.x + (event.clientX - rect.left) / rect.width * box.width;
      var best = 0;
      xs.forEach(function (x, j) { if (Math.abs(x - vx) < Math.abs(xs[best] - vx)) best = j; });
      focus(best);
    });
    svg.addEventListener("pointerleave", function () { svg.classList.remove("hovering"); });
    svg.addEventListener("focus", function () { focus(current < 0 ? circles.length - 1 : current); });
    svg.addEventListener("blur", function () { svg.classList.remove("hovering"); });
    svg.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: -1, ArrowRight: 1, Home: -circles.length, End: circles.length };
      if (moves[event.key] === undefined) return;
      event.preventDefault();
      focus((current < 0 ? 0 : current) + moves[event.key]);
    });
  }

  root.ClyptChart = { label: label, title: title, legend: legend, tip: tip, series: series,
    draw: draw, interact: interact };

  // the dashboard's server-drawn charts
  function enhance() {
    var charts = document.querySelectorAll("svg.chart[data-readout]");
    Array.prototype.forEach.call(charts, function (svg) {
      interact(svg, document.getElementById(svg.getAttribute("data-readout")));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
  else enhance();
})(window);
