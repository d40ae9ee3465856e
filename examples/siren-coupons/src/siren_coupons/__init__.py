"""siren-coupons: coupon rewards for siren-core.

Importing this package has no side effects; siren-core loads the plugin module
``siren_coupons.plugin`` through the ``siren`` entry-point group.
"""

__version__ = "0.1.0"
