// GOV.UK Frontend's progressive enhancement, kept out of inline scripts so the CSP can forbid them.
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
import('/static/govuk/govuk-frontend.min.js').then(function (m) { m.initAll(); });
