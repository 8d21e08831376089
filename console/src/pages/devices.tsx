// Devices: the user's xiaozhi devices (name, MAC, bound and last seen, online), "Bind a device" by
// the 6-digit code a device shows, rename, and unbind after confirming. The OTA URL to put in a
// device's firmware or SDK is this API's /xiaozhi/ota/.
import { useState } from 'preact/hooks';
import { ApiError, type Api, type PublicDevice } from '../api';
import { formatTime, t } from '../i18n';
import { ConfirmButton, Field, PageNotices, useListing } from '../ui';

export function DevicesPage(props: { api: Api }) {
  const { api } = props;
  const { items: devices, error, notice, setNotice, reload, act } = useListing(api, (a) => a.listDevices());
  const [renaming, setRenaming] = useState<{ id: number; name: string; error?: string } | null>(null);

  async function rename(event: Event) {
    event.preventDefault();
    if (!renaming) return;
    try {
      const saved = await api.updateDevice(renaming.id, { name: renaming.name });
      setRenaming(null);
      setNotice(t('deviceRenamed', { name: saved.name }));
      await reload();
    } catch (caught) {
      const fieldError = caught instanceof ApiError ? caught.fieldErrors.find((e) => e.field === 'name')?.message : undefined;
      setRenaming({ ...renaming, error: fieldError ?? (caught as Error).message });
    }
  }

  return (
    <section>
      <div class="page-head">
        <h1>{t('devicesTitle')}</h1>
      </div>
      <p class="help">{t('devicesIntro')}</p>
      <p class="help">
        <code data-testid="ota-url">{t('devicesOtaUrl', { url: `${location.origin}/xiaozhi/ota/` })}</code>
      </p>
      <BindForm
        api={api}
        onBound={(device) => {
          setNotice(t('deviceBound', { name: device.name }));
          void reload();
        }}
      />
      <PageNotices notice={notice} error={error} onCloseNotice={() => setNotice(null)} />
      {devices === null ? (
        <p>{t('loading')}</p>
      ) : devices.length === 0 ? (
        <p class="empty">{t('noDevices')}</p>
      ) : (
        <ul class="config-list device-list" data-testid="device-list">
          <li class="config-row head" aria-hidden="true">
            <span>{t('colName')}</span>
            <span>{t('colDeviceId')}</span>
            <span>{t('colBound')}</span>
            <span>{t('colLastSeen')}</span>
            <span>{t('colOnline')}</span>
            <span />
          </li>
          {devices.map((device) => (
            <li key={device.id} class="config-row" data-device={device.device_id}>
              <span class="name">
                {renaming?.id === device.id ? (
                  <form onSubmit={rename} class="inline-form">
                    <Field id={`device-name-${device.id}`} label={t('deviceNameLabel', { name: device.device_id })} error={renaming.error}>
                      <input
                        id={`device-name-${device.id}`}
                        value={renaming.name}
                        maxLength={64}
                        onInput={(e) => setRenaming({ id: device.id, name: e.currentTarget.value })}
                      />
                    </Field>
                    <button type="submit" class="small">
                      {t('save')}
                    </button>
                    <button type="button" class="secondary small" onClick={() => setRenaming(null)}>
                      {t('cancel')}
                    </button>
                  </form>
                ) : (
                  <strong data-testid="device-name">{device.name}</strong>
                )}
              </span>
              <span class="target">
                <code>{device.device_id}</code>
              </span>
              <span>{formatTime(device.bound_at)}</span>
              <span>{formatTime(device.last_seen_at)}</span>
              <span>{device.online ? t('yes') : t('no')}</span>
              <span class="row-actions">
                <button type="button" class="secondary small" onClick={() => setRenaming({ id: device.id, name: device.name })}>
                  {t('rename')}
                </button>
                <ConfirmButton
                  label={t('unbind')}
                  question={t('confirmUnbind', { name: device.name })}
                  onConfirm={() => void act(() => api.unbindDevice(device.id), t('deviceUnbound', { name: device.name }))}
                />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function BindForm(props: { api: Api; onBound(device: PublicDevice): void }) {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const device = await props.api.bindDevice(code.trim());
      setCode('');
      props.onBound(device);
    } catch (caught) {
      const fieldError = caught instanceof ApiError ? caught.fieldErrors.find((e) => e.field === 'code')?.message : undefined;
      setError(fieldError ?? t('errorGeneric', { message: (caught as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card bind-form" onSubmit={submit} data-testid="bind-device">
      <h2>{t('bindDevice')}</h2>
      <Field id="bind-code" label={t('bindCodeLabel')} help={t('bindCodeHelp')} error={error ?? undefined}>
        <input
          id="bind-code"
          name="code"
          inputMode="numeric"
          autocomplete="off"
          maxLength={7}
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
          required
        />
      </Field>
      <button type="submit" disabled={busy || !code.trim()}>
        {t('bindButton')}
      </button>
    </form>
  );
}
