/* global window, document */
/**
 * The browser half of the WebAuthn ceremonies on the hosted pages and the account portal (served from
 * /assets/webauthn.js after @simplewebauthn/browser's bundle; the pages' CSP allows scripts from 'self' only: no
 * inline script, no eval).
 *
 * Contract with the templates (src/http/pages/webauthn.ts renders it):
 * - `form[data-webauthn="register"|"authenticate"]` carries the options JSON the server issued in `data-options`
 *   (a data attribute, HTML-escaped by the template, never executed), a hidden `response` field, the page's CSRF
 *   field, and translated error texts in `data-error-cancelled`, `data-error-exists`, `data-error-failed`.
 *   Submitting it runs the ceremony, writes the credential JSON into `response`, and submits the form.
 * - `data-autofill` on an `authenticate` form also starts conditional mediation (passkey autofill on the input whose
 *   `autocomplete` ends in `webauthn`) when the browser supports it.
 * - `[data-webauthn-only]` elements are `hidden` in the markup and shown here only when the browser can do WebAuthn:
 *   without JavaScript the pages offer the other factors alone (progressive enhancement).
 */
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  if (lib === undefined || !lib.browserSupportsWebAuthn()) return;

  document.querySelectorAll('[data-webauthn-only]').forEach(function (el) {
    el.hidden = false;
  });

  function showError(form, key) {
    var box = form.querySelector('[data-webauthn-error]');
    if (box === null) return;
    box.textContent = form.getAttribute('data-error-' + key) || form.getAttribute('data-error-failed') || '';
    box.hidden = false;
    box.focus();
  }

  function keyOf(error) {
    // NotAllowedError: the user cancelled, or the ceremony timed out (the spec does not tell them apart, on purpose).
    var name = error && (error.name || '');
    var code = error && (error.code || '');
    if (name === 'NotAllowedError' || name === 'AbortError' || code === 'ERROR_CEREMONY_ABORTED') return 'cancelled';
    if (name === 'InvalidStateError' || code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED') return 'exists';
    return 'failed';
  }

  function submitWith(form, credential) {
    form.querySelector('input[name="response"]').value = JSON.stringify(credential);
    form.setAttribute('data-webauthn-state', 'submitting');
    form.submit();
  }

  function ceremony(form, optionsJSON, autofill) {
    var kind = form.getAttribute('data-webauthn');
    if (kind === 'register') return lib.startRegistration({ optionsJSON: optionsJSON });
    return lib.startAuthentication(autofill ? { optionsJSON: optionsJSON, useBrowserAutofill: true } : { optionsJSON: optionsJSON });
  }

  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    var optionsJSON;
    try {
      optionsJSON = JSON.parse(form.getAttribute('data-options') || 'null');
    } catch {
      optionsJSON = null;
    }
    if (optionsJSON === null) return;
    var busy = false;

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      var box = form.querySelector('[data-webauthn-error]');
      if (box !== null) box.hidden = true;
      ceremony(form, optionsJSON, false).then(
        function (credential) {
          submitWith(form, credential);
        },
        function (error) {
          busy = false;
          showError(form, keyOf(error));
        },
      );
    });

    if (form.hasAttribute('data-autofill') && typeof lib.browserSupportsWebAuthnAutofill === 'function') {
      lib.browserSupportsWebAuthnAutofill().then(function (supported) {
        if (!supported) return;
        form.setAttribute('data-webauthn-autofill', 'started');
        ceremony(form, optionsJSON, true).then(
          function (credential) {
            submitWith(form, credential);
          },
          function () {
            // A pending autofill request is aborted when the user presses the passkey button instead (or leaves the
            // page): nothing to tell them.
          },
        );
      });
    }
  });
})();
