/**
 * The gallery page's one script, inlined (the page's Content-Security-Policy admits it by its hash and
 * nothing else). Plain ES2020 in a string: the page needs no framework and nothing from the network, and
 * the user's app may use any framework or none.
 *
 * In every mode: a candidate opens full size in a `<dialog>` (without script, its link opens the file),
 * and the search box filters the cards. In the dev server (`data-mode="dev"`), action buttons post to the
 * gallery's API with the per-server token, an action that would spend shows its estimate and waits for a
 * confirmation, cards are replaced by fresh server-rendered HTML after a change, and an `EventSource`
 * brings progress, partial images and changes (see the report of issue #15 for the HTTP API).
 *
 * The script builds no HTML from strings: text goes in with `textContent`, server-rendered cards come from
 * the gallery's own endpoint (escaped there, and parsed inert in a `<template>`).
 */
export const GALLERY_CLIENT = String.raw`(function () {
  'use strict';
  var body = document.body;
  var mode = body.getAttribute('data-mode');
  var viewer = document.getElementById('viewer');
  var viewerImg = viewer.querySelector('img');
  var viewerCaption = viewer.querySelector('[data-caption]');
  var viewerLink = viewer.querySelector('a[data-original]');

  function openViewer(src, caption) {
    viewerImg.src = src;
    viewerImg.alt = caption;
    viewerCaption.textContent = caption;
    viewerLink.href = src;
    if (!viewer.open) viewer.showModal();
  }
  viewer.addEventListener('click', function (event) {
    if (event.target === viewer || event.target.closest('[data-close]')) viewer.close();
  });

  var search = document.getElementById('search');
  if (search) {
    search.addEventListener('input', function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll('article[data-spec]').forEach(function (card) {
        var text = card.textContent.toLowerCase();
        card.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
      });
    });
  }

  document.addEventListener('click', function (event) {
    var open = event.target.closest('a[data-open]');
    if (open && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      openViewer(open.getAttribute('href'), open.getAttribute('data-caption') || '');
      return;
    }
    if (mode !== 'dev') return;
    var confirmButton = event.target.closest('[data-confirm]');
    if (confirmButton) { event.preventDefault(); answerConfirm(confirmButton); return; }
    var actionButton = event.target.closest('[data-action]');
    if (actionButton) { event.preventDefault(); act(actionButton, false); }
  });

  if (mode !== 'dev') return;

  var api = document.querySelector('meta[name="ai-image-api"]').getAttribute('content');
  var token = document.querySelector('meta[name="ai-image-token"]').getAttribute('content');

  function cardOf(label) {
    var cards = document.querySelectorAll('article[data-spec]');
    for (var i = 0; i < cards.length; i++) if (cards[i].getAttribute('data-spec') === label) return cards[i];
    return null;
  }

  function post(action, payload) {
    return fetch(api + 'api/' + action, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json', 'x-ai-image-token': token },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, error: 'the dev server answered ' + response.status }; });
    }, function () { return { ok: false, error: 'the dev server cannot be reached (is vite dev still running?)' }; });
  }

  function formFields(form) {
    var fields = {};
    form.querySelectorAll('[data-field]').forEach(function (input) {
      var name = input.getAttribute('data-field');
      var value = input.value.trim() === '' ? null : input.value;
      if (value !== null && input.getAttribute('data-type') === 'integer') value = /^-?\d+$/.test(value) ? Number(value) : value;
      if (value !== null && input.getAttribute('data-type') === 'seed' && /^\d{1,15}$/.test(value)) value = Number(value);
      fields[name] = value;
    });
    return fields;
  }

  function payloadFor(button, card) {
    var action = button.getAttribute('data-action');
    var payload = { spec: card.getAttribute('data-spec') };
    if (action === 'pick') payload.index = Number(button.getAttribute('data-index'));
    if (action === 'restore') payload.key = button.getAttribute('data-key');
    if (action === 'save') payload.fields = formFields(card.querySelector('form[data-form="edit"]'));
    return payload;
  }

  function setMessage(card, text, isError) {
    var slot = card.querySelector('[data-message]');
    slot.textContent = text;
    slot.className = isError ? 'error' : 'note';
  }

  function setBusy(card, busy) {
    card.setAttribute('aria-busy', busy ? 'true' : 'false');
    card.querySelectorAll('button').forEach(function (b) { b.disabled = busy; });
  }

  function usd(value) { return value === null ? 'no price (set the prices option)' : '$' + value.toFixed(3) + ' est.'; }

  var pending = new WeakMap();

  function act(button, confirmed) {
    var card = button.closest('article[data-spec]');
    var action = button.getAttribute('data-action');
    var payload = payloadFor(button, card);
    if (confirmed) payload.confirm = true;
    setBusy(card, true);
    setMessage(card, '', false);
    post(action, payload).then(function (answer) {
      setBusy(card, false);
      if (!answer.ok) { setMessage(card, answer.error || 'the action failed', true); return; }
      var result = answer.result;
      if (!result.written && result.estimate && !confirmed && (result.changes.length > 0 || action === 'generate')) {
        askConfirm(card, button, result);
        return;
      }
      if (result.written) setMessage(card, 'written: ' + result.changes.map(function (c) { return c.field; }).join(', '), false);
      else if (result.generate) setMessage(card, 'generating…', false);
      refreshCard(payload.spec);
    });
  }

  function askConfirm(card, button, result) {
    var box = card.querySelector('[data-confirm-box]');
    var text = box.querySelector('[data-confirm-text]');
    var images = result.estimate.images;
    text.textContent = 'This generates ' + images + ' image' + (images === 1 ? '' : 's') + ': ' + usd(result.estimate.usd);
    pending.set(box, button);
    box.hidden = false;
    box.querySelector('[data-confirm="yes"]').focus();
  }

  function answerConfirm(answer) {
    var box = answer.closest('[data-confirm-box]');
    var button = pending.get(box);
    box.hidden = true;
    pending.delete(box);
    if (answer.getAttribute('data-confirm') === 'yes' && button) act(button, true);
  }

  function refreshCard(label) {
    fetch(api + 'card?spec=' + encodeURIComponent(label), { credentials: 'same-origin', cache: 'no-store', headers: { 'x-ai-image-token': token } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        var card = cardOf(label);
        if (!card || html === null) return;
        var template = document.createElement('template');
        template.innerHTML = html;
        var fresh = template.content.querySelector('article[data-spec]');
        if (fresh && fresh.getAttribute('data-spec') === label) card.replaceWith(fresh);
      })
      .catch(function () {});
  }

  function onEvent(name, handle) {
    events.addEventListener(name, function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (error) { return; }
      handle(data);
    });
  }

  var events = new EventSource(api + 'events');
  onEvent('spec', function (data) { refreshCard(data.spec); });
  onEvent('progress', function (data) {
    var card = cardOf(data.spec);
    var slot = card && card.querySelector('[data-progress]');
    if (slot) slot.textContent = 'generating: ' + data.done + ' of ' + data.total + ' images';
  });
  onEvent('partial', function (data) {
    var card = cardOf(data.spec);
    if (!card || typeof data.src !== 'string' || data.src.charAt(0) !== '/') return;
    var img = card.querySelector('[data-partial="' + Number(data.index) + '"]');
    if (img) { img.src = data.src; img.hidden = false; }
  });
  onEvent('specs', function () { location.reload(); });
})();
`
