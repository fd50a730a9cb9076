// Login: username and password, a plain message when it fails.
import { login, ApiError } from '../api.js';
import { h, replace } from '../dom.js';

export function renderLogin(main, { onLoggedIn }) {
  const error = h('p', { class: 'form-error', id: 'login-error', role: 'alert' });
  const username = h('input', {
    id: 'login-username',
    name: 'username',
    autocomplete: 'username',
    required: true,
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const password = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login',
      'aria-describedby': 'login-error',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        submit.textContent = 'Logging in…';
        try {
          await login(username.value.trim(), password.value);
          onLoggedIn();
        } catch (err) {
          const message =
            err instanceof ApiError && err.status === 401
              ? 'Wrong username or password. Check both and try again.'
              : err instanceof ApiError && err.status === 429
                ? `Too many failed attempts: ${err.message}. Wait a while, then try again.`
                : err instanceof Error
                  ? err.message
                  : String(err);
          error.textContent = message;
          password.value = '';
          password.focus();
        } finally {
          submit.disabled = false;
          submit.textContent = 'Log in';
        }
      },
    },
    h('h1', {}, 'Log in'),
    h('p', { class: 'muted' }, 'Use the username and password an admin gave you.'),
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    error,
    submit,
  );
  replace(main, form);
  main.dataset.ready = 'true';
  username.focus();
}
