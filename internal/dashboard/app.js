// Tocsin operator dashboard. Plain JavaScript, no dependencies, no network
// access beyond this node's own API. Every value from the API is written with
// textContent (never as HTML). See doc.go.
'use strict';

(function () {
  const POLL_MS = 2000;
  const TOKEN_KEY = 'tocsin-api-token';
  const STATE_ORDER = ['released', 'in-internal-test', 'authorised', 'effective', 'installed',
    'not-authorised', 'install-failed', 'rolled-back', 'recalled'];

  let token = '';
  let overview = null;
  const advRows = new Map();      // advisory id -> rows and form
  const relCards = new Map();     // release id -> card parts
  const expandedDevices = new Set();

  // ---- helpers ----

  function $(sel) { return document.querySelector(sel); }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k === 'title') e.title = v;
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // fill replaces node's children; null, undefined and false are skipped
  // (replaceChildren would write them as text).
  function fill(node, ...children) {
    node.replaceChildren(...children.filter(c => c !== undefined && c !== null && c !== false)
      .map(c => (c instanceof Node ? c : document.createTextNode(String(c)))));
  }

  function short(id, n) {
    if (!id) return '';
    n = n || 12;
    return id.length > n + 2 ? id.slice(0, 4) + '…' + id.slice(-(n - 4)) : id;
  }

  function isZeroTime(t) { return !t || t.startsWith('0001-01-01'); }

  function fmtTime(t) {
    if (isZeroTime(t)) return '';
    const d = new Date(t);
    if (isNaN(d)) return t;
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function fmtDuration(ms) {
    const s = Math.abs(ms) / 1000;
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }

  function relTime(t) {
    if (isZeroTime(t)) return '';
    const ms = new Date(t) - Date.now();
    return ms >= 0 ? 'in ' + fmtDuration(ms) : fmtDuration(ms) + ' ago';
  }

  function fmtBytes(n) {
    if (!n) return '0 B';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i];
  }

  function stateClass(s) { return 'state state-' + (s || 'none'); }

  function stateBadge(s, extra) {
    return el('span', { class: stateClass(s), title: extra }, s || '—');
  }

  function sortedStates(states) {
    const keys = Object.keys(states || {});
    keys.sort((a, b) => {
      const ia = STATE_ORDER.indexOf(a), ib = STATE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    return keys;
  }

  function fleetSummary(fr) {
    if (!fr || !fr.states) return '—';
    return sortedStates(fr.states).map(s => fr.states[s] + ' ' + s).join(' · ');
  }

  function message(kind, text) {
    const box = $('#messages');
    const m = el('div', { class: 'msg msg-' + kind },
      el('span', { text }),
      el('button', { type: 'button', class: 'link', title: 'Dismiss', onclick: () => m.remove() }, '×'));
    box.prepend(m);
    while (box.children.length > 5) box.lastChild.remove();
    if (kind === 'ok') setTimeout(() => m.remove(), 20000);
  }

  // ---- token ----

  function initToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      token = decodeURIComponent(m[1]);
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      token = sessionStorage.getItem(TOKEN_KEY) || '';
    }
    $('#token-form').addEventListener('submit', ev => {
      ev.preventDefault();
      const v = $('#token').value.trim();
      if (!v) return;
      token = v;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('#token').value = '';
      tokenState();
      message('ok', 'API token set for this tab.');
      poll(true);
    });
    $('#token-forget').addEventListener('click', () => {
      token = '';
      sessionStorage.removeItem(TOKEN_KEY);
      tokenState();
    });
    tokenState();
  }

  function tokenState() {
    $('#token').placeholder = token ? 'token set ✓ (paste to replace)' : 'paste the token to act';
    $('#token-forget').hidden = !token;
    document.body.classList.toggle('has-token', !!token);
  }

  // ---- API ----

  async function api(path, body) {
    const headers = { 'Accept': 'application/json' };
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const init = { headers, cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch('/api/v1/' + path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.error) || (resp.status + ' ' + resp.statusText));
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function setConn(text, kind) {
    const c = $('#conn');
    c.textContent = text;
    c.className = 'badge badge-' + kind;
  }

  let timer = null;
  let polling = false;

  async function poll(now) {
    if (timer) { clearTimeout(timer); timer = null; }
    if (polling) { if (!now) timer = setTimeout(poll, POLL_MS); return; }
    polling = true;
    try {
      const [ov, advs, rels, fleet, peers, audit] = await Promise.all([
        api('overview'), api('advisories'), api('releases'), api('fleet'), api('peers'), api('audit?limit=50')]);
      overview = ov;
      try {
        renderOverview(ov);
        renderAdvisories(advs, ov);
        renderReleases(rels);
        renderDevices(fleet);
        renderPeers(peers);
        renderAudit(audit);
        setConn('live · ' + new Date().toLocaleTimeString(), 'ok');
      } catch (e) {
        console.error(e);
        setConn('display error: ' + e.message, 'bad');
      }
    } catch (e) {
      if (e.status === 401) setConn('token needed to read', 'warn');
      else setConn('no answer from the node', 'bad');
    } finally {
      polling = false;
      timer = setTimeout(poll, POLL_MS);
    }
  }

  // ---- overview ----

  function renderOverview(ov) {
    $('#node-id').textContent = ov.role + ' ' + short(ov.peer_id, 16) + (ov.group ? ' · group ' + ov.group : '');
    $('#node-id').title = ov.peer_id;
    $('#ov-devices').textContent = ov.devices;
    $('#ov-peers').textContent = ov.peers;
    $('#ov-advisories').textContent = ov.advisories;
    $('#ov-overdue').textContent = ov.overdue;
    $('#ov-overdue-card').classList.toggle('alert', ov.overdue > 0);
    $('#ov-releases').textContent = ov.releases;
    const f = (ov.trust && ov.trust.freshness) || {};
    const fs = f.state || 'unknown';
    $('#ov-trust').textContent = fs + ' · root v' + ov.trust.root_version;
    $('#ov-trust-detail').textContent = f.detail || 'trusted state';
    const fb = $('#freshness');
    fb.textContent = 'trust: ' + fs;
    fb.title = f.detail || '';
    fb.className = 'badge badge-' + (fs === 'fresh' ? 'ok' : fs === 'root-expired' ? 'bad' : 'warn');
    let sig, detail;
    if (!ov.actions) {
      sig = 'actions off';
      detail = 'the API was started without a token';
    } else if (ov.operator_key) {
      sig = 'operator ' + ov.operator_key.slice(0, 16);
      detail = ov.operator_key_named ? 'this node signs decisions for you (key named in the owner policy)'
        : 'WARNING: the owner policy does not name this key; decisions will be refused';
    } else {
      sig = 'no operator key';
      detail = 'submit decisions signed elsewhere (below)';
    }
    $('#ov-signing').textContent = sig;
    $('#ov-signing-detail').textContent = detail;
  }

  // ---- advisories ----

  function canSign() { return overview && overview.actions && !!overview.operator_key; }

  function makeAdvisoryRows(a, ov) {
    const cells = {};
    const row = el('tr', { class: 'advisory', dataset: { id: a.id, release: a.release_id } });
    for (const k of ['deadline', 'advisory', 'severity', 'cvss', 'affected', 'release', 'local', 'fleet']) {
      cells[k] = el('td', { class: 'c-' + k });
      row.append(cells[k]);
    }
    const f = {};
    f.sia = el('input', { type: 'text', class: 'sia', placeholder: 'e.g. SIA-2026-017', size: 16, maxlength: 256, dataset: { release: a.release_id } });
    f.group = el('input', { type: 'text', class: 'group', placeholder: 'every group', size: 12, maxlength: 128, dataset: { release: a.release_id } });
    f.group.value = (ov && ov.group) || '';
    f.reason = el('input', { type: 'text', class: 'reason', placeholder: 'optional', size: 22, maxlength: 1024, dataset: { release: a.release_id } });
    f.authorise = el('button', { type: 'button', class: 'authorise primary', dataset: { release: a.release_id } }, 'Authorise');
    f.reject = el('button', { type: 'button', class: 'reject danger', dataset: { release: a.release_id } }, 'Reject');
    f.decisions = el('div', { class: 'decisions muted' });
    f.hint = el('span', { class: 'hint muted small' });
    f.busy = false;
    f.authorise.addEventListener('click', () => decide('authorise', a.release_id, f));
    f.reject.addEventListener('click', () => decide('reject', a.release_id, f));
    const lbl = (text, input) => el('label', null, el('span', null, text), input);
    const form = el('tr', { class: 'decide', dataset: { release: a.release_id } },
      el('td', { colspan: 8 },
        el('div', { class: 'decide-form' },
          lbl('SIA reference', f.sia), lbl('Group', f.group), lbl('Reason', f.reason), f.authorise, f.reject, f.hint),
        f.decisions));
    return { row, form, cells, f };
  }

  function updateAdvisoryRows(r, a) {
    const c = r.cells;
    r.row.classList.toggle('overdue', !!a.overdue);
    r.form.classList.toggle('overdue', !!a.overdue);
    if (isZeroTime(a.deadline)) {
      fill(c.deadline, el('span', { class: 'muted' }, 'none set'));
    } else {
      const ms = new Date(a.deadline) - Date.now();
      fill(c.deadline, el('div', null, fmtTime(a.deadline)),
        el('div', { class: a.overdue ? 'overdue-label' : 'muted' },
          a.overdue ? 'OVERDUE by ' + fmtDuration(ms) : (ms >= 0 ? 'due in ' + fmtDuration(ms) : 'passed ' + fmtDuration(ms) + ' ago')));
    }
    fill(c.advisory, el('div', null, el('strong', null, a.id), a.revision ? el('span', { class: 'muted' }, ' rev ' + a.revision) : null),
      el('div', null, a.title || ''),
      a.cves && a.cves.length ? el('div', { class: 'muted small' }, a.cves.join(', ')) : null);
    fill(c.severity, el('span', { class: 'sev sev-' + (a.severity || 'none').toLowerCase() }, a.severity || '—'));
    fill(c.cvss, el('div', null, a.base_score ? a.base_score.toFixed(1) : '—'),
      a.cvss ? el('div', { class: 'muted small vector', title: a.cvss }, a.cvss) : null);
    fill(c.affected, el('div', null, (a.affected_products || []).join(', ')),
      el('div', { class: 'muted small' }, a.applies ? 'affects this device' : a.state === 'installed' ? 'fixed on this device' : 'does not affect this device'));
    fill(c.release, el('div', null, a.release_id), a.recalled ? el('span', { class: 'state state-recalled' }, 'recalled') : null);
    fill(c.local, a.state ? stateBadge(a.state) : el('span', { class: 'muted' }, '—'),
      a.authorisation ? el('div', { class: 'muted small' }, a.authorisation) : null,
      a.sia ? el('div', { class: 'small' }, 'SIA ' + a.sia) : null);
    fill(c.fleet, el('div', { class: 'small' }, fleetSummary(a.fleet)),
      a.fleet && a.fleet.overdue && a.fleet.overdue.length ? el('div', { class: 'overdue-label small' }, a.fleet.overdue.length + ' device(s) overdue') : null);
    const f = r.f;
    const ds = (a.decisions || []).map(d => d.action + (d.group ? ' (' + d.group + ')' : ' (every group)') +
      (d.sia ? ' SIA ' + d.sia : '') + ' by ' + short(d.signer, 16) + ' ' + relTime(d.issued));
    f.decisions.textContent = ds.length ? 'Decisions held: ' + ds.join('; ') : 'No operator decision held.';
    if (!f.busy) {
      const ok = canSign();
      for (const b of [f.authorise, f.reject]) {
        b.disabled = !ok || !!a.recalled;
        b.title = !overview || !overview.actions ? 'The API was started without a token: actions are off'
          : !overview.operator_key ? 'This node holds no operator key: submit a signed decision below'
          : a.recalled ? 'The release was recalled' : '';
      }
      f.hint.textContent = f.authorise.title;
    }
  }

  function renderAdvisories(list, ov) {
    const tbody = $('#advisories tbody');
    $('#advisories-empty').hidden = list.length > 0;
    const seen = new Set();
    let prev = null;
    for (const a of list) {
      seen.add(a.id);
      let r = advRows.get(a.id);
      if (!r) {
        r = makeAdvisoryRows(a, ov);
        advRows.set(a.id, r);
      }
      updateAdvisoryRows(r, a);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== r.row) tbody.insertBefore(r.row, want);
      if (r.row.nextSibling !== r.form) tbody.insertBefore(r.form, r.row.nextSibling);
      prev = r.form;
    }
    for (const [id, r] of advRows) {
      if (!seen.has(id)) {
        r.row.remove();
        r.form.remove();
        advRows.delete(id);
      }
    }
  }

  async function decide(action, release, f) {
    if (!token) {
      message('warn', 'Enter the API token (top right) first.');
      $('#token').focus();
      return;
    }
    const body = { release, group: f.group.value.trim(), sia: f.sia.value.trim(), reason: f.reason.value.trim() };
    f.busy = true;
    f.authorise.disabled = f.reject.disabled = true;
    try {
      const res = await api(action, body);
      const who = res.signed_by === 'node' ? "this node's operator key " : 'key ';
      message('ok', (action === 'authorise' ? 'Authorised ' : 'Rejected ') + release +
        (body.group ? ' for group ' + body.group : ' for every group') + (body.sia ? ', SIA ' + body.sia : '') +
        ': signed by ' + who + short((res.signers || [])[0], 16) + ', seq ' + res.seq + '. The fleet verifies and applies it.');
      poll(true);
    } catch (e) {
      message('bad', action + ' ' + release + ' refused (' + (e.status || 'network') + '): ' + e.message);
    } finally {
      f.busy = false;
      f.authorise.disabled = f.reject.disabled = !canSign();
    }
  }

  // ---- releases ----

  function makeReleaseCard(v) {
    const parts = {};
    parts.card = el('section', { class: 'release', dataset: { release: v.id } });
    parts.head = el('div', { class: 'release-head' });
    parts.local = el('div', { class: 'release-local' });
    parts.fleet = el('div', { class: 'release-fleet' });
    parts.historyList = el('ol', { class: 'history' });
    parts.historySummary = el('summary', null, 'Lifecycle history on this device');
    parts.history = el('details', null, parts.historySummary, parts.historyList);
    parts.card.append(parts.head, el('div', { class: 'release-body' }, parts.local, parts.fleet), parts.history);
    return parts;
  }

  function progressBar(pct, label) {
    const fill = el('div', { class: 'bar-fill' });
    fill.style.width = Math.max(0, Math.min(100, pct)).toFixed(1) + '%';
    return el('div', { class: 'bar', title: label }, fill, el('span', { class: 'bar-label' }, label));
  }

  function updateReleaseCard(p, v) {
    p.card.classList.toggle('recalled', !!v.recalled);
    fill(p.head,
      el('h3', null, v.id),
      el('span', { class: 'muted' }, [v.size ? fmtBytes(v.size) : null, v.seq ? 'seq ' + v.seq : null,
        isZeroTime(v.published) ? null : 'published ' + fmtTime(v.published), v.advisory ? 'advisory ' + v.advisory : null,
        v.delta_from ? 'delta from ' + v.delta_from : null].filter(Boolean).join(' · ')),
      v.recalled ? el('span', { class: 'state state-recalled', title: v.recall_reason || '' }, 'recalled: ' + (v.recall_reason || '')) : null);

    const l = v.local;
    if (!l) {
      fill(p.local, el('h4', null, 'This device'), el('p', { class: 'muted' }, 'Not fetched here (does not apply, or a seed).'));
    } else {
      const fp = l.fetch || {};
      const label = l.fetched ? 'verified · ' + fmtBytes(v.size) :
        (fp.blocks_held || 0) + '/' + (fp.blocks_total || '?') + ' blocks · ' + fmtBytes(fp.bytes_fetched) + ' fetched · ' + Math.round(fp.percent || 0) + '%';
      fill(p.local,
        el('h4', null, 'This device'),
        el('div', null, stateBadge(l.state), ' ', el('span', { class: 'muted' }, 'phase ' + l.phase + ' · wave ' + l.wave)),
        progressBar(l.fetched ? 100 : (fp.percent || 0), label),
        l.authorisation ? el('div', { class: 'small' }, l.authorisation) : null,
        l.sia ? el('div', { class: 'small' }, 'SIA ' + l.sia) : null,
        l.gate && l.state !== 'installed' && l.state !== 'recalled' ? el('div', { class: 'small muted' }, 'install gate: ' + l.gate) : null,
        l.error ? el('div', { class: 'small error' }, 'error: ' + l.error) : null,
        isZeroTime(l.installed_at) ? null : el('div', { class: 'small' }, 'installed ' + fmtTime(l.installed_at)));
      const hist = l.history || [];
      p.historySummary.textContent = 'Lifecycle history on this device (' + hist.length + ')';
      fill(p.historyList, ...hist.map(h => el('li', null,
        el('span', { class: 'muted' }, fmtTime(h.at) + ' '), h.from + ' → ', stateBadge(h.to), ' ' + h.event,
        h.actor ? ' by ' + h.actor : '', h.ref ? ' (' + h.ref + ')' : '')));
    }
    p.history.hidden = !l;

    const fr = v.fleet;
    if (!fr) {
      fill(p.fleet, el('h4', null, 'Fleet'), el('p', { class: 'muted' }, 'No device has reported on this release yet.'));
      return;
    }
    const states = sortedStates(fr.states);
    const total = states.reduce((n, s) => n + fr.states[s], 0);
    const stack = el('div', { class: 'stack', title: fleetSummary(fr) });
    for (const s of states) {
      const seg = el('div', { class: 'seg ' + stateClass(s), title: fr.states[s] + ' ' + s });
      seg.style.width = (100 * fr.states[s] / total).toFixed(2) + '%';
      stack.append(seg);
    }
    const legend = el('div', { class: 'legend' }, ...states.map(s => el('span', { class: 'legend-item' },
      el('span', { class: 'swatch ' + stateClass(s) }), el('span', { class: 'fleet-count', dataset: { state: s } }, String(fr.states[s])), ' ' + s)));
    const waves = Object.keys(fr.waves || {}).sort((a, b) => a - b).map(w => 'wave ' + w + ': ' + fr.waves[w]);
    fill(p.fleet,
      el('h4', null, 'Fleet ', el('span', { class: 'muted' }, total + ' device(s) reporting')),
      stack, legend,
      el('div', { class: 'small muted' }, waves.length ? waves.join(' · ') : ''),
      fr.overdue && fr.overdue.length ? el('div', { class: 'overdue-box' },
        el('strong', null, 'Overdue: '), el('ul', null, ...fr.overdue.map(o => el('li', null, o)))) : null);
  }

  function renderReleases(list) {
    const box = $('#releases');
    $('#releases-empty').hidden = list.length > 0;
    const seen = new Set();
    let prev = null;
    for (const v of list) {
      seen.add(v.id);
      let p = relCards.get(v.id);
      if (!p) {
        p = makeReleaseCard(v);
        relCards.set(v.id, p);
      }
      updateReleaseCard(p, v);
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== p.card) box.insertBefore(p.card, want);
      prev = p.card;
    }
    for (const [id, p] of relCards) {
      if (!seen.has(id)) {
        p.card.remove();
        relCards.delete(id);
      }
    }
  }

  // ---- devices ----

  function renderDevices(fleet) {
    const tbody = $('#devices tbody');
    const devs = fleet.devices || [];
    $('#devices-empty').hidden = devs.length > 0;
    const rows = [];
    for (const d of devs) {
      const rels = Object.keys(d.releases || {}).sort();
      const row = el('tr', { class: 'device' + (expandedDevices.has(d.device) ? ' open' : ''), dataset: { device: d.device }, tabindex: 0 },
        el('td', { title: d.device }, short(d.device, 16), d.self ? el('span', { class: 'tag' }, 'this node') : null),
        el('td', null, d.group || '—'),
        el('td', null, d.zone || '—'),
        el('td', null, d.self ? 'self' : d.connected ? 'connected' : el('span', { class: 'muted' }, 'via gossip')),
        el('td', { class: d.age_seconds > 90 ? 'stale' : '' }, fmtDuration(d.age_seconds * 1000) + ' ago'),
        el('td', null, Object.entries(d.products || {}).map(([p, v]) => p + ' ' + v).join(', ')),
        el('td', null, ...rels.map(id => el('span', { class: 'rel-state' }, id + ' ', stateBadge(d.releases[id].state)))));
      const toggle = () => {
        if (expandedDevices.has(d.device)) expandedDevices.delete(d.device);
        else expandedDevices.add(d.device);
        renderDevices(fleet);
      };
      row.addEventListener('click', toggle);
      row.addEventListener('keydown', ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); toggle(); } });
      rows.push(row);
      if (expandedDevices.has(d.device)) {
        const detail = el('table', { class: 'inner small' },
          el('thead', null, el('tr', null, ...['Release', 'State', 'Wave', 'Deadline', 'Error'].map(h => el('th', null, h)))),
          el('tbody', null, ...rels.map(id => {
            const r = d.releases[id];
            return el('tr', null, el('td', null, id), el('td', null, stateBadge(r.state)), el('td', null, String(r.wave)),
              el('td', null, isZeroTime(r.deadline) ? '—' : fmtTime(r.deadline)), el('td', { class: 'error' }, r.error || ''));
          })));
        rows.push(el('tr', { class: 'device-detail' }, el('td', { colspan: 7 },
          el('div', { class: 'small' }, 'Peer ID ', el('code', null, d.device), ' · report ' + fmtTime(d.reported)),
          rels.length ? detail : el('p', { class: 'muted' }, 'No release reported.'))));
      }
    }
    fill(tbody, ...rows);
  }

  // ---- peers ----

  function renderPeers(pv) {
    $('#roster-info').textContent = pv.fleet ? '(roster of fleet ' + pv.fleet + ', seq ' + pv.roster_seq + ')' : '(no roster: zones unknown)';
    const zones = new Map();
    for (const p of pv.peers || []) {
      const z = p.zone || '';
      if (!zones.has(z)) zones.set(z, []);
      zones.get(z).push(p);
    }
    const blocks = [];
    for (const [z, peers] of zones) {
      blocks.push(el('div', { class: 'zone', dataset: { zone: z } },
        el('h3', null, z ? 'zone ' + z : 'no zone', el('span', { class: 'muted' }, ' ' + peers.length + ' peer(s)')),
        el('ul', null, ...peers.map(p => el('li', { class: p.connected ? 'up' : 'down' },
          el('code', { title: p.id }, short(p.id, 16)),
          p.self ? el('span', { class: 'tag' }, 'this node') : null,
          el('span', { class: 'tag ' + (p.connected ? 'tag-ok' : '') }, p.connected ? 'connected' : 'reports only'),
          p.role ? el('span', { class: 'tag' }, p.role + (p.conduits && p.conduits.length ? ' → ' + p.conduits.join(', ') : '')) : null,
          p.revoked ? el('span', { class: 'tag tag-bad' }, 'revoked') : null,
          pv.fleet && !p.enrolled && !p.revoked ? el('span', { class: 'tag tag-bad' }, 'not enrolled') : null,
          p.group ? el('span', { class: 'muted' }, ' group ' + p.group) : null,
          p.addrs && p.addrs.length ? el('div', { class: 'muted small addrs' }, p.addrs.join('  ')) : null)))));
    }
    fill($('#peers'), ...blocks);
  }

  // ---- audit ----

  function renderAudit(av) {
    const recs = (av.records || []).slice().reverse();
    $('#audit-total').textContent = av.total ? '(' + recs.length + ' of ' + av.total + ')' : '(empty)';
    fill($('#audit tbody'), ...recs.map(r => el('tr', null,
      el('td', null, String(r.seq)), el('td', null, fmtTime(r.time)), el('td', { title: r.actor }, short(r.actor, 24)),
      el('td', null, r.event), el('td', null, r.release || ''),
      el('td', { class: 'small' }, Object.entries(r.details || {}).map(([k, v]) => k + '=' + v).join('  ')))));
  }

  // ---- signed documents ----

  async function submitSigned() {
    if (!token) {
      message('warn', 'Enter the API token (top right) first.');
      return;
    }
    let env, payload;
    try {
      env = JSON.parse($('#signed-doc').value);
      const bin = atob(env.payload);
      const bytes = Uint8Array.from(bin, c => c.charCodeAt(0));
      payload = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      message('bad', 'Not a signed envelope: ' + e.message);
      return;
    }
    let route;
    if (env.payloadType === 'application/vnd.tocsin.decision.v1+json') route = payload.action;
    else if (env.payloadType === 'application/vnd.tocsin.recall.v1+json') route = 'recall';
    else {
      message('bad', 'Unsupported document type ' + env.payloadType + ' (decisions and recalls only).');
      return;
    }
    try {
      const res = await api(route, { envelope: env });
      message('ok', 'Accepted ' + res.document + ' (seq ' + res.seq + ').');
      $('#signed-doc').value = '';
      poll(true);
    } catch (e) {
      message('bad', 'Refused (' + (e.status || 'network') + '): ' + e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    initToken();
    $('#signed-submit').addEventListener('click', submitSigned);
    poll(true);
  });
})();
