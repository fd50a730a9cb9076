// Settings for admins: OAuth clients (a new secret is shown once), users
// and their roles, and connections where the server keeps them.
import { api, can, session, isMissingRoute } from '../api.js';
import { h, note, replace, section, table } from '../dom.js';
import { actionButton, badge, errorNote, time } from '../widgets.js';

const enc = encodeURIComponent;

export async function renderSettings(view, ctx) {
  if (!can('clients') && !can('users') && !can('connections')) {
    replace(
      view,
      h('h1', {}, 'Settings'),
      note(`Settings need the admin role; you are ${session.current?.role}.`),
    );
    return;
  }
  const [clients, users, connections] = await Promise.allSettled([
    api('/clients'),
    api('/users'),
    api('/connections'),
  ]);
  replace(
    view,
    h('h1', {}, 'Settings'),
    clientsSection(clients, ctx),
    usersSection(users, ctx),
    connectionsSection(connections, ctx),
  );
}

/** A field with a label. */
function field(label, input, extra) {
  return h('div', { class: `field ${extra ?? ''}` }, h('label', { for: input.id }, label), input);
}

function roleSelect(id, roles, value) {
  return h(
    'select',
    { id },
    roles.map((r) => h('option', { value: r, selected: r === value }, r)),
  );
}

function copyButton(value, what) {
  const button = h('button', { type: 'button', class: 'secondary copy' }, `Copy ${what}`);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = `${what[0].toUpperCase()}${what.slice(1)} copied`;
    } catch {
      button.textContent = 'Select the text and copy it';
    }
  });
  return button;
}

/** The new client's id and secret, shown once; kept on screen until dismissed. */
function secretPanel(client, onDone) {
  const panel = h(
    'div',
    {
      class: 'secret-panel',
      role: 'region',
      'aria-labelledby': 'secret-title',
      'data-keep': 'true',
      tabindex: '-1',
    },
    h('h3', { id: 'secret-title' }, `Client ${client.name} created`),
    note('Copy the secret now: it is shown only this once and cannot be read again.', 'warn'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Client id'),
      h(
        'dd',
        {},
        h('code', { id: 'new-client-id' }, client.clientId),
        ' ',
        copyButton(client.clientId, 'id'),
      ),
      h('dt', {}, 'Client secret'),
      h(
        'dd',
        {},
        h('code', { id: 'new-client-secret' }, client.clientSecret),
        ' ',
        copyButton(client.clientSecret, 'secret'),
      ),
      h('dt', {}, 'Role'),
      h('dd', {}, client.role),
    ),
    h(
      'p',
      { class: 'muted' },
      'Executors read them from TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET.',
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'primary',
        id: 'secret-done',
        onclick: () => {
          panel.remove();
          onDone();
        },
      },
      'I have copied the secret',
    ),
  );
  return panel;
}

function clientsSection(result, ctx) {
  if (!can('clients')) return null;
  if (result.status === 'rejected') return section('OAuth clients', errorNote(result.reason));
  const clients = result.value.clients;
  const slot = h('div', {});
  const name = h('input', {
    id: 'client-name',
    required: true,
    maxlength: 100,
    placeholder: 'e.g. warehouse executor',
  });
  const role = roleSelect('client-role', ['executor', 'viewer', 'developer', 'admin'], 'executor');
  const error = h('p', { class: 'form-error', role: 'alert', id: 'client-error' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      'aria-label': 'Create an OAuth client',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          const client = await api('/clients', {
            method: 'POST',
            body: { name: name.value.trim(), role: role.value },
          });
          name.value = '';
          name.blur();
          const panel = secretPanel(client, () => void ctx.refresh());
          replace(slot, panel);
          panel.focus();
          ctx.announce(`Client ${client.name} created. Its secret is shown once: copy it now.`);
        } catch (err) {
          error.textContent = err instanceof Error ? err.message : String(err);
        }
      },
    },
    field('Name', name, 'grow'),
    field('Role', role),
    h('button', { type: 'submit', class: 'primary', id: 'client-create' }, 'Create client'),
    error,
  );
  return section(
    'OAuth clients',
    h(
      'p',
      { class: 'muted' },
      'Executors and scripts authenticate with a client id and secret. Revoking a client stops its tokens at once.',
    ),
    slot,
    table(
      'OAuth clients',
      ['Name', 'Client id', 'Role', 'Created', 'Last used', 'State', 'Actions'],
      clients.map((c) => [
        c.name,
        h('code', {}, c.clientId),
        c.role,
        time(c.createdTs, ctx),
        c.lastUsedTs ? time(c.lastUsedTs, ctx) : 'never',
        c.revokedTs ? badge('cancelled', 'revoked') : badge('online', 'active'),
        c.revokedTs
          ? ''
          : actionButton(
              `Revoke`,
              async () => {
                await api(`/clients/${enc(c.clientId)}`, { method: 'DELETE' });
                return `Client ${c.name} revoked`;
              },
              ctx,
              {
                class: 'danger',
                id: `revoke-${c.clientId}`,
                confirm: `Revoke client ${c.name}? Anything using it stops working at once.`,
              },
            ),
      ]),
      { empty: 'No clients yet.' },
    ),
    form,
  );
}

function usersSection(result, ctx) {
  if (!can('users')) return null;
  if (result.status === 'rejected') return section('Users and roles', errorNote(result.reason));
  const users = result.value.users;
  const roles = ['viewer', 'developer', 'admin'];
  const username = h('input', {
    id: 'user-name',
    required: true,
    maxlength: 100,
    autocomplete: 'off',
  });
  const password = h('input', {
    id: 'user-password',
    type: 'password',
    minlength: 12,
    autocomplete: 'new-password',
  });
  const role = roleSelect('user-role', roles, 'viewer');
  const error = h('p', { class: 'form-error', role: 'alert', id: 'user-error' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      'aria-label': 'Add a user',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          const body = {
            username: username.value.trim(),
            role: role.value,
            ...(password.value ? { password: password.value } : {}),
          };
          await api('/users', { method: 'POST', body });
          ctx.announce(`User ${body.username} added as ${body.role}`);
          username.blur();
          password.blur();
          await ctx.refresh();
        } catch (err) {
          error.textContent = err instanceof Error ? err.message : String(err);
        }
      },
    },
    field('Username', username),
    field('Password (12+ characters; leave empty for an existing account)', password, 'grow'),
    field('Role', role),
    h('button', { type: 'submit', class: 'primary', id: 'user-add' }, 'Add user'),
    error,
  );
  const rowError = h('p', { class: 'form-error', role: 'alert', id: 'user-row-error' });
  return section(
    'Users and roles',
    h(
      'p',
      { class: 'muted' },
      'viewer reads; developer also plans and runs non-prod environments; admin does everything.',
    ),
    rowError,
    table(
      'Users',
      ['Username', 'Role', 'Created', 'State', 'Actions'],
      users.map((u) => {
        // The login answer names the user, not the id: either tells the admin's own row.
        const self =
          u.userId === session.current?.userId || u.username === session.current?.username;
        const select = roleSelect(`role-${u.userId}`, roles, u.role);
        select.setAttribute('aria-label', `Role of ${u.username}`);
        return [
          [u.username, self ? h('span', { class: 'muted' }, ' (you)') : null],
          self
            ? u.role
            : h(
                'span',
                { class: 'row-form' },
                select,
                actionButton(
                  'Save role',
                  async () => {
                    await api(`/users/${enc(u.userId)}`, {
                      method: 'PATCH',
                      body: { role: select.value },
                    });
                    return `${u.username} is now ${select.value}`;
                  },
                  ctx,
                  { onError: (m) => (rowError.textContent = m) },
                ),
              ),
          time(u.createdTs, ctx),
          u.disabled ? badge('cancelled', 'disabled') : badge('online', 'active'),
          self
            ? ''
            : actionButton(
                'Remove',
                async () => {
                  await api(`/users/${enc(u.userId)}`, { method: 'DELETE' });
                  return `${u.username} removed from this project`;
                },
                ctx,
                {
                  class: 'danger',
                  confirm: `Remove ${u.username} from this project?`,
                  onError: (m) => (rowError.textContent = m),
                },
              ),
        ];
      }),
    ),
    form,
  );
}

function connectionsSection(result, ctx) {
  if (!can('connections')) return null;
  if (result.status === 'rejected') {
    return section(
      'Connections',
      isMissingRoute(result.reason)
        ? note(
            'Connections are kept by the cloud only in the standard deployment; this server does not offer them. Hybrid executors keep their own connection settings.',
          )
        : result.reason?.status === 503
          ? note(`Connections are not available: ${result.reason.message}`)
          : errorNote(result.reason),
    );
  }
  const list = result.value.connections ?? [];
  const gateway = h('input', {
    id: 'connection-gateway',
    required: true,
    maxlength: 100,
    placeholder: 'e.g. warehouse',
  });
  const yaml = h('textarea', {
    id: 'connection-yaml',
    required: true,
    rows: 6,
    spellcheck: 'false',
    placeholder: 'type: postgres\nhost: db.internal\nuser: tideline\npassword: …',
  });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'connection-error' });
  const submit = h(
    'button',
    { type: 'submit', class: 'primary', id: 'connection-add' },
    'Test and save',
  );
  const form = h(
    'form',
    {
      class: 'stack-form',
      'aria-label': 'Add a connection',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        submit.textContent = 'Testing the connection…';
        try {
          await api(`/connections/${enc(gateway.value.trim())}`, {
            method: 'PUT',
            body: { yaml: yaml.value },
          });
          // The settings leave the page once saved: they are never shown again.
          yaml.value = '';
          ctx.announce(`Connection for gateway ${gateway.value.trim()} tested and saved`);
          gateway.blur();
          yaml.blur();
          await ctx.refresh();
        } catch (err) {
          error.textContent = `Not saved: ${err instanceof Error ? err.message : String(err)}`;
          yaml.focus();
        } finally {
          submit.disabled = false;
          submit.textContent = 'Test and save';
        }
      },
    },
    field('Gateway', gateway),
    field('Connection settings (YAML, as under gateways.<name>.connection)', yaml),
    submit,
    error,
  );
  return section(
    'Connections',
    h(
      'p',
      { class: 'muted' },
      'Cloud-hosted executors reach the warehouse with these. Each is tested before it is saved, then stored encrypted; its values are never shown again.',
    ),
    table(
      'Connections',
      ['Gateway', 'Engine', 'Created', 'Updated', 'Actions'],
      list.map((c) => [
        c.gateway,
        c.engine ?? c.type ?? '—',
        time(c.createdTs, ctx),
        time(c.updatedTs, ctx),
        actionButton(
          'Delete',
          async () => {
            await api(`/connections/${enc(c.gateway)}`, { method: 'DELETE' });
            return `Connection ${c.gateway} deleted`;
          },
          ctx,
          {
            class: 'danger',
            confirm: `Delete the connection of gateway ${c.gateway}? Cloud-hosted executors can no longer reach it.`,
          },
        ),
      ]),
      { empty: 'No connections.' },
    ),
    form,
  );
}
